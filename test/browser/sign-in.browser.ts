/**
 * Signs in through the real page in headless Debian Chromium (playwright-core), against the
 * real server on the embedded database and the production console build.
 * Run: `npm run build && npm run test:browser`. Prints "N passed, M failed" last.
 */
import type { ChildProcess } from 'node:child_process';
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

/** Set when the time cap ends the run: from then on nothing starts and nothing more is counted. */
let capped = false;

async function check(name: string, body: () => Promise<void>): Promise<void> {
  if (capped) return;
  try {
    await body();
    if (capped) return;
    results.push({ name });
    console.log(`  ✓ ${name}`);
  } catch (error) {
    if (capped) return;
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    results.push({ name, error: message });
    console.log(`  ✗ ${name}\n      ${message}`);
  }
}

/** What is running, so that the time cap can stop it too. */
const running: { runboard?: Runboard; browser?: Browser; devChild?: ChildProcess; dirs: string[] } = { dirs: [] };

async function expectText(page: Page, text: string): Promise<void> {
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 10_000 });
}

/** The lightness (0 black … 1 white) of the page background. */
async function backgroundLightness(page: Page): Promise<number> {
  const colour = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r = 0, g = 0, b = 0] = (colour.match(/[\d.]+/g) ?? []).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}

async function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

async function main(): Promise<number> {
  if (!fs.existsSync(path.join(ROOT, '.next', 'BUILD_ID'))) {
    console.error('No production build of the console: run `npm run build` first.');
    return 1;
  }
  fs.mkdirSync(OUT, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-browser-'));
  running.dirs.push(dataDir);
  try {
    const runboard = (running.runboard = await start({
      port: 0,
      host: '127.0.0.1',
      console: true,
      dev: false,
      dataDir,
      databaseUrl: undefined,
      secret: undefined,
      admin: { username: 'admin', password: PASSWORD },
      logLevel: 'warn',
    }));
    const url = runboard.url;
    const browser = (running.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    }));
    const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const page = await context.newPage();

    await check('an anonymous visit lands on the sign-in page', async () => {
      await page.goto(`${url}/`);
      await page.waitForURL(/\/sign-in/, { timeout: 10_000 });
      await page.getByLabel('Username').waitFor();
    });

    await check('a wrong password, typed with the keyboard only, shows the server message', async () => {
      // The username field has focus on arrival; Tab reaches the password; Enter submits.
      await page.keyboard.type('admin');
      await page.keyboard.press('Tab');
      await page.keyboard.type('not-the-password');
      await page.keyboard.press('Enter');
      const alert = page.locator('form').getByRole('alert'); // Next adds a route announcer with role=alert too
      await alert.waitFor({ timeout: 10_000 });
      const text = await alert.textContent();
      if (text?.trim() !== 'Wrong username or password.') throw new Error(`alert says "${text}"`);
      if ((await page.getByLabel('Password').getAttribute('aria-invalid')) !== 'true') throw new Error('the password field is not marked invalid');
    });

    await check('signing in opens the shell with the user, ignoring a `next` that leaves the site', async () => {
      await page.goto(`${url}/sign-in?next=${encodeURIComponent('//example.com/phish')}`);
      await page.getByLabel('Username').fill('admin');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${url}/`, { timeout: 10_000 });
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
      const name = await page.getByTestId('username').textContent();
      if (name !== 'admin') throw new Error(`shell shows "${name}"`);
      await expectText(page, 'Nothing to show yet');
      await expectText(page, 'Admin'); // the role
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === 'runboard_session');
      if (!session?.httpOnly || session.sameSite !== 'Lax') throw new Error(`session cookie ${JSON.stringify(session)}`);
      await page.screenshot({ path: path.join(OUT, 'shell.png') });
    });

    await check('a signed-in visit to the sign-in page goes on to the overview, never off the site', async () => {
      // Browsers drop a tab inside a URL, so "/<tab>/example.com" would mean "//example.com".
      await page.goto(`${url}/sign-in?next=${encodeURIComponent('/\t/example.com/phish')}`);
      await page.waitForURL(`${url}/`, { timeout: 10_000 });
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
    });

    await check('a reload keeps the session, and a dark system theme turns the page dark', async () => {
      await page.reload();
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
      const light = await backgroundLightness(page);
      await page.emulateMedia({ colorScheme: 'dark' });
      const dark = await backgroundLightness(page);
      if (!(light > 0.8 && dark < 0.2)) throw new Error(`page lightness ${light.toFixed(2)} in light, ${dark.toFixed(2)} in dark`);
      await page.waitForTimeout(300); // let colour transitions finish before the picture
      await page.screenshot({ path: path.join(OUT, 'shell-dark.png') });
      await page.emulateMedia({ colorScheme: 'light' });
    });

    await check('the theme toggle overrides the system theme and is remembered', async () => {
      await page.getByRole('button', { name: 'Switch to dark theme' }).click();
      await page.reload();
      await page.getByRole('button', { name: 'Switch to light theme' }).waitFor({ timeout: 10_000 });
      const dark = await backgroundLightness(page);
      if (dark > 0.2) throw new Error(`after choosing dark and reloading, page lightness is ${dark.toFixed(2)}`);
      await page.getByRole('button', { name: 'Switch to light theme' }).click();
      const light = await backgroundLightness(page);
      if (light < 0.8) throw new Error(`after choosing light, page lightness is ${light.toFixed(2)}`);
      await page.evaluate(() => localStorage.removeItem('runboard-theme'));
    });

    await check('at phone width the sign-in page and the shell fit without scrolling sideways', async () => {
      const anonymous = await browser.newPage({ viewport: { width: 375, height: 700 } });
      await anonymous.goto(`${url}/sign-in`);
      await anonymous.getByLabel('Username').waitFor();
      const signInOverflow = await sidewaysOverflow(anonymous);
      await anonymous.screenshot({ path: path.join(OUT, 'sign-in-phone.png') });
      await anonymous.close();
      const signedIn = await context.newPage(); // shares the session cookie
      await signedIn.setViewportSize({ width: 375, height: 700 });
      await signedIn.goto(`${url}/`);
      await signedIn.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 10_000 });
      const shellOverflow = await sidewaysOverflow(signedIn);
      await signedIn.screenshot({ path: path.join(OUT, 'shell-phone.png') });
      await signedIn.close();
      if (signInOverflow > 0 || shellOverflow > 0) throw new Error(`sideways scroll: sign-in ${signInOverflow}px, shell ${shellOverflow}px`);
    });

    await check('an unknown address answers 404 with a page that leads back', async () => {
      const response = await page.goto(`${url}/no-such-page`);
      if (response?.status() !== 404) throw new Error(`status ${response?.status()}`);
      await page.getByRole('heading', { name: 'Page not found' }).waitFor({ timeout: 10_000 });
      await page.getByRole('link', { name: 'Go to the overview' }).click();
      await page.getByTestId('username').waitFor({ timeout: 10_000 });
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
      running.dirs.push(devDir);
      const dev = spawnServer({ NODE_ENV: 'development', RUNBOARD_CONSOLE: 'true', RUNBOARD_DATA_DIR: devDir, RUNBOARD_ADMIN_PASSWORD: PASSWORD });
      running.devChild = dev.child;
      try {
        const devUrl = await dev.ready;
        const page = await browser.newPage();
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
        running.devChild = undefined;
        fs.rmSync(devDir, { recursive: true, force: true });
      }
    });
  } catch (error) {
    if (capped) return 1;
    results.push({ name: 'setup', error: error instanceof Error ? error.message : String(error) });
    console.log(`  ✗ setup: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await cleanUp();
  }
  return capped ? 1 : summary();
}

/** Prints the last line, "N passed, M failed"; returns the exit code. */
function summary(): number {
  const failed = results.filter((r) => r.error).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

/** Stops whatever is still running, each step bounded so a stuck one cannot hang the script. */
async function cleanUp(): Promise<void> {
  const { devChild, browser, runboard } = running;
  running.devChild = running.browser = running.runboard = undefined;
  devChild?.kill('SIGKILL');
  const bounded = (work: Promise<unknown> | undefined) =>
    Promise.race([work?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  await bounded(browser?.close());
  await bounded(runboard?.stop());
  for (const dir of running.dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

const cap = setTimeout(() => {
  capped = true;
  const unfinished = `everything within ${TIME_CAP_MS / 1000} s (stopped after "${results.at(-1)?.name ?? 'setup'}")`;
  results.push({ name: unfinished, error: 'time cap reached' });
  console.log(`  ✗ ${unfinished}`);
  void cleanUp().finally(() => process.exit(Math.max(1, summary())));
}, TIME_CAP_MS);
cap.unref();
main().then((code) => {
  if (!capped) process.exit(code); // else the time cap prints the summary and exits
});
