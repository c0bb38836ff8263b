/** Gathers the type files and builds the schema. */
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder';
import './root';
import './errors';
import './user';
import './api-key';
import './access-key';
import './event';
import './environment';
import './host';
import './group';
import './script';
import './attachment';
import './schedule';
import './run';
import './task';
import './check';
import './options';
import './notification-channel';
import './alert-rule';
import './alert-delivery';
import './maintenance-window';
import './snooze';
import './agent';
import './host-registration';

export const schema = lexicographicSortSchema(builder.toSchema());
