/**
 * The legacy REST dialects Runboard speaks (COMPAT.md), in the order their paths are tried.
 * Each is one file of this folder (Otto's execution side has a second); the plumbing is server.ts.
 */
import { ndscheduler } from './ndscheduler';
import { otto } from './otto';
import type { Dialect } from './route-table';

export const DIALECTS: readonly Dialect[] = [ndscheduler, otto];
