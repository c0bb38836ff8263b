/**
 * The legacy REST dialects Runboard speaks (COMPAT.md), in the order their paths are tried.
 * Each is one file of this folder (with helpers beside it for the larger ones: Otto's models and
 * execution side, ndscheduler's cron fields, Sloth CI's logs); the plumbing is server.ts.
 * Sloth CI comes last: its webhooks answer on any path that could be a listen point.
 */
import { ndscheduler } from './ndscheduler';
import { otto } from './otto';
import type { Dialect } from './route-table';
import { scripto } from './scripto';
import { slothci } from './slothci';
import { virtshell } from './virtshell';

export const DIALECTS: readonly Dialect[] = [scripto, ndscheduler, virtshell, otto, slothci];
