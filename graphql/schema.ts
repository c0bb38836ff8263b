/** Gathers the type files and builds the schema. */
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder';
import './root';
import './errors';
import './user';
import './api-key';
import './event';
import './environment';
import './host';
import './group';
import './script';
import './attachment';
import './schedule';
import './job';
import './run';
import './check';
import './options';
import './notification-channel';
import './alert-rule';
import './alert-delivery';
import './maintenance-window';
import './snooze';
import './agent';
import './host-registration';
import './sloth-app';

export const schema = lexicographicSortSchema(builder.toSchema());
