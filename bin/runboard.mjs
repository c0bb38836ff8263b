#!/usr/bin/env node
// `runboard …` (npx runboard agent …): runs the TypeScript entry point through tsx, a dependency.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, path.join(root, 'agent', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
// Signals reach the agent, which stops its runs; its exit code becomes ours.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
