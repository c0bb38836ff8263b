/**
 * Signs in through the real page in headless Debian Chromium (playwright-core), against the
 * real server on the embedded database and the production console build.
 * Run: `npm run build && npm run test:browser`. Prints "N passed, M failed" last.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { start, type Runboard } from '../../server';
import { spawnServer } from '../support/process';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const PASSWORD = 'browser-test-password';
const OUT = path.join(ROOT, 'test-results');
const TIME_CAP_MS = 120_000;

const results: Array<{ name: string; error?: string }> = [];

async function check(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    results.push({ name });
    console.log(`  ✓ ${name}`);
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    results.push({ name, error: message });
    console.log(`  ✗ ${name}\n      ${message}`);
  }
}

async function expectText(page: Page, text: string): Promise<void> {
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 10_000 });
}

async function main(): Promise<number> {
  if (!fs.existsSync(path.join(ROOT, '.next', 'BUILD_ID'))) {
    console.error('No production build of the console: run `npm run build` first.');
    return 1;
  }
  fs.mkdirSync(OUT, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-browser-'));
  let runboard: Runboard | undefined;
  let browser: Browser | undefined;
  try {
    runboard = await start({
      port: 0,
      host: '127.0.0.1',
      console: true,
      dev: false,
      dataDir,
      databaseUrl: undefined,
      secret: undefined,
      admin: { username: 'admin', password: PASSWORD },
      logLevel: 'warn',
    });
    const url = runboard.url;
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    });
    const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });

    await check('an anonymous visit lands on the sign-in page', async () => {
      await page.goto(`${url}/`);
      await page.waitForURL(/\/sign-in/, { timeout: 10_000 });
      await page.getByLabel('Username').waitFor();
    });

    await check('a wrong password shows the server message', async () => {
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.locator('form').getByRole('alert'); // Next adds a route announcer with role=alert too
      await alert.waitFor({ timeout: 10_000 });
      const text = await alert.textContent();
      if (text?.trim() !== 'Wrong username or password.') throw new Error(`alert says "${text}"`);
    });

    await check('signing in opens the shell with the user', async () => {
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${url}/`, { timeout: 10_000 });
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
      const name = await page.getByTestId('username').textContent();
      if (name !== 'admin') throw new Error(`shell shows "${name}"`);
      await expectText(page, 'Nothing to show yet');
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === 'runboard_session');
      if (!session?.httpOnly || session.sameSite !== 'Lax') throw new Error(`session cookie ${JSON.stringify(session)}`);
      await page.screenshot({ path: path.join(OUT, 'shell.png') });
    });

    await check('a reload keeps the session, and the dark theme renders', async () => {
      await page.reload();
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
      await page.emulateMedia({ colorScheme: 'dark' });
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      if (background !== 'rgb(15, 20, 27)') throw new Error(`dark background is ${background}`);
      await page.waitForTimeout(300); // let colour transitions finish before the picture
      await page.screenshot({ path: path.join(OUT, 'shell-dark.png') });
    });

    await check('the phone-width sign-in page fits without scrolling sideways', async () => {
      const phone = await browser!.newPage({ viewport: { width: 375, height: 700 } });
      await phone.goto(`${url}/sign-in`);
      await phone.getByLabel('Username').waitFor();
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await phone.screenshot({ path: path.join(OUT, 'sign-in-phone.png') });
      await phone.close();
      if (overflow > 0) throw new Error(`${overflow}px of sideways scroll`);
    });

    await check('GraphiQL opens for a signed-in person, from our own server only', async () => {
      const foreign: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(url) && !request.url().startsWith('blob:') && !request.url().startsWith('data:')) foreign.push(request.url());
      });
      await page.goto(`${url}/api/graphql`);
      await page.locator('.graphiql-container').first().waitFor({ timeout: 20_000 });
      await page.screenshot({ path: path.join(OUT, 'graphiql.png') });
      if (foreign.length > 0) throw new Error(`GraphiQL fetched from elsewhere: ${foreign.slice(0, 3).join(', ')}`);
      await page.goto(`${url}/`);
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
    });

    await check('signing out returns to the sign-in page and ends the session', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/sign-in/, { timeout: 10_000 });
      await page.goto(`${url}/`);
      await page.waitForURL(/\/sign-in/, { timeout: 10_000 });
    });
    // Next keeps process-wide state: a dev server needs a process of its own, as under `npm run dev`.
    await check('under `npm run dev` the console hot-reloads through our upgrade dispatcher', async () => {
      const devDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-browser-dev-'));
      const dev = spawnServer({ NODE_ENV: 'development', RUNBOARD_CONSOLE: 'true', RUNBOARD_DATA_DIR: devDir, RUNBOARD_ADMIN_PASSWORD: PASSWORD });
      try {
        const devUrl = await dev.ready;
        const page = await browser!.newPage();
        let hmrFrames = 0;
        let hmrError = '';
        page.on('websocket', (socket) => {
          if (!socket.url().includes('/_next/hmr')) return;
          socket.on('framereceived', () => hmrFrames++);
          socket.on('socketerror', (error) => (hmrError = error));
        });
        await page.goto(`${devUrl}/sign-in`);
        await page.getByLabel('Username').waitFor({ timeout: 60_000 });
        for (let waited = 0; hmrFrames === 0 && waited < 10_000; waited += 250) await page.waitForTimeout(250);
        await page.close();
        if (hmrFrames === 0) throw new Error(`the dev reload socket received nothing${hmrError ? `: ${hmrError}` : ''}`);
      } finally {
        dev.child.kill('SIGTERM');
        await dev.exited;
        fs.rmSync(devDir, { recursive: true, force: true });
      }
    });
  } catch (error) {
    results.push({ name: 'setup', error: error instanceof Error ? error.message : String(error) });
    console.log(`  ✗ setup: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await runboard?.stop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const failed = results.filter((r) => r.error).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

const cap = setTimeout(() => {
  console.log(`Browser test took longer than ${TIME_CAP_MS / 1000} s.\n0 passed, 1 failed`);
  process.exit(1);
}, TIME_CAP_MS);
cap.unref();
main().then((code) => process.exit(code));
