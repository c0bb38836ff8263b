/**
 * The legacy REST dialects Runboard speaks (COMPAT.md), in the order their paths are tried.
 * Each is one file of this folder (Otto's execution side has a second); the plumbing is server.ts.
 * Sloth CI comes last: its webhooks answer on any path that could be a listen point.
 */
import { otto } from './otto';
import type { Dialect } from './route-table';
import { scripto } from './scripto';
import { slothci } from './slothci';

export const DIALECTS: readonly Dialect[] = [scripto, otto, slothci];
