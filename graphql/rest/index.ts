/**
 * The legacy REST dialects Runboard speaks (COMPAT.md), in the order their paths are tried.
 * Each is one file of this folder (Otto's execution side has a second); the plumbing is server.ts.
 */
import { otto } from './otto';
import { virtshell } from './virtshell';
import type { Dialect } from './route-table';

export const DIALECTS: readonly Dialect[] = [virtshell, otto];
