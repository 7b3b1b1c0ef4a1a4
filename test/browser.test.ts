import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { readEdgeConfig } from '../services/edge/config.js';
import { startEdge, type RunningEdge } from '../services/edge/edge.js';
import { Mesh } from './harness.js';

// The page in real headless Chromium, against the whole mesh: the page is
// built with Vite, served by the edge, signs in at the development OpenID
// Provider's login page and calls the gateway over grpc-web.

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Where to save a screenshot of a finished job, relative to the repository; unset saves none (`docs/page.png` for the README). */
const screenshotPath = process.env.FAAS_PAGE_SCREENSHOT;

/** Prints eight lines over about four seconds, with one line on stderr. */
const streamingScript = `for i in 1 2 3 4 5 6 7 8; do
  echo "line $i"
  sleep 0.5
done
echo "a warning on stderr" >&2
echo "all done"
`;

describe('browser page', function () {
  this.timeout(120_000);
  let webRoot: string;
  let profileDir: string;
  let mesh: Mesh;
  let edge: RunningEdge;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    this.timeout(240_000);
    webRoot = await mkdtemp(join(tmpdir(), 'faas-web-'));
    profileDir = await mkdtemp(join(tmpdir(), 'faas-chromium-'));
    await build({
      configFile: join(repositoryRoot, 'web/vite.config.ts'),
      build: { outDir: webRoot, emptyOutDir: true },
      logLevel: 'warn',
    });

    mesh = await Mesh.start({ workers: 1, observer: { intervalMs: 1_000, minWorkers: 0, maxWorkers: 4 } });
    edge = await startEdge(
      readEdgeConfig({
        FAAS_EDGE_ADDRESS: '127.0.0.1:0',
        FAAS_GATEWAY: mesh.gateway.address,
        FAAS_WEB_ROOT: webRoot,
        FAAS_OIDC_ISSUER: mesh.identity.issuer,
      }),
      mesh.log.child({ service: 'edge' }),
    );
    mesh.identity.addWebRedirectUri(`${edge.url}/callback`);

    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      args: chromiumArgs,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await context?.close();
    await edge?.close();
    await mesh?.stop();
    if (webRoot) await rm(webRoot, { recursive: true, force: true });
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  afterEach(() => {
    assert.deepEqual(pageErrors, [], 'the page threw uncaught errors');
  });

  it('signs in at the provider login page', async () => {
    await page.goto(`${edge.url}/`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await signInAtProvider(page, 'alice');

    await page.getByTestId('account-name').filter({ hasText: 'alice' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/', 'the callback should return to the page the sign-in started from');
    assert.match(await page.getByTestId('account-roles').innerText(), /faas-user/);
    await page.getByTestId('jobs-empty').waitFor();
    assert.equal(await page.getByTestId('scaling-panel').count(), 0, 'a normal user must not see the scaling panel');
  });

  it('shows server validation errors next to the field', async () => {
    const repository = await mesh.repository({ 'main.sh': 'echo hello\n' });
    await page.getByLabel('Repository URL').fill(repository.url);
    await page.getByLabel('Ref', { exact: true }).fill('bad..ref');
    await page.getByRole('button', { name: 'Submit job' }).click();

    const refError = page.locator('.mantine-InputWrapper-error').filter({ hasText: 'must not contain ".."' });
    await refError.waitFor();
    // Under its field, the message reads without the API's field path.
    assert.match(await refError.innerText(), /^"bad\.\.ref" is not a valid branch, tag or commit: it must not contain "\.\."$/);
    assert.equal(new URL(page.url()).pathname, '/', 'an invalid job must not open a job page');
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  it('streams the output and shows the result', async () => {
    const repository = await mesh.repository({ 'main.sh': streamingScript });
    await page.getByLabel('Repository URL').fill(repository.url);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/jobs\/[0-9a-z]{26}$/);

    // The first line arrives while the job still runs, so the output is streamed, not read at the end.
    const logView = page.getByTestId('log-view');
    await logView.filter({ hasText: 'line 1' }).waitFor();
    const stateAtFirstLine = await page.getByTestId('job-state').getAttribute('data-state');
    const textAtFirstLine = await logView.innerText();
    assert.equal(stateAtFirstLine, 'RUNNING', `the job was ${stateAtFirstLine} when its first line showed`);
    assert.doesNotMatch(textAtFirstLine, /all done/);
    // The details name the limits the worker applies while the job runs.
    await page.getByText(/^memory \d+ MiB, \d+ processes, CPU \d+%/).waitFor({ timeout: 5_000 });

    await page.locator('[data-testid="job-state"][data-state="SUCCEEDED"]').waitFor();
    await page.getByTestId('result-exit-code').filter({ hasText: /^0$/ }).waitFor();
    await logView.and(page.locator('[data-status="ended"]')).waitFor();

    const stdout = await page.locator('[data-testid="log-view"] [data-stream="stdout"]').allInnerTexts();
    const stderr = await page.locator('[data-testid="log-view"] [data-stream="stderr"]').allInnerTexts();
    assert.match(stdout.join(''), /line 1\nline 2\n[\s\S]*line 8\n[\s\S]*all done/);
    assert.equal(stderr.join(''), 'a warning on stderr\n');
    assert.match(await page.getByTestId('result-stdout').innerText(), /line 8\nall done/);

    if (screenshotPath !== undefined) {
      const target = resolve(repositoryRoot, screenshotPath);
      await mkdir(dirname(target), { recursive: true });
      await page.screenshot({ path: target, fullPage: true });
    }
  });

  it('cancels a running job', async () => {
    await page.getByRole('link', { name: /All jobs/ }).click();
    const repository = await mesh.repository({ 'main.sh': 'echo never\n' });
    await page.getByLabel('Repository URL').fill(repository.url);
    await page.getByLabel('Command').fill(`bash -c "echo 'started, now sleeping'; sleep 120"`);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/jobs\/[0-9a-z]{26}$/);

    await page.getByTestId('log-view').filter({ hasText: 'started, now sleeping' }).waitFor();
    // The page requests a confirmation first, and dismissing it leaves the job running.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.getByTestId('cancel-job').click();
    assert.equal(await page.getByTestId('cancel-job').innerText(), 'Cancel job');
    assert.equal(await page.locator('[data-testid="job-state"][data-state="RUNNING"]').count(), 1);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('cancel-job').click();
    await page.locator('[data-testid="job-state"][data-state="CANCELLED"]').waitFor();
    assert.match(await page.getByTestId('job-failure').innerText(), /Cancelled/);
    assert.equal(await page.getByTestId('cancel-job').count(), 0, 'a finished job has no Cancel button');
  });

  it('lists the jobs with their states', async () => {
    await page.getByRole('link', { name: /All jobs/ }).click();
    const rows = page.getByTestId('job-row');
    await page.locator('[data-testid="job-row"] [data-state="CANCELLED"]').waitFor();
    assert.equal(await rows.count(), 2);
    const states = await page.locator('[data-testid="job-row"] [data-testid="job-state"]').evaluateAll((badges) =>
      badges.map((badge) => badge.getAttribute('data-state')),
    );
    assert.deepEqual(states, ['CANCELLED', 'SUCCEEDED'], 'newest first');
  });

  it('renews an expired token with the refresh token', async () => {
    // Mark the stored token as expired, as after a page left open past its lifetime, then reopen the page.
    const expired = await page.evaluate(() => {
      const storage = (globalThis as unknown as { sessionStorage: PageStorage }).sessionStorage;
      const key = Object.keys(storage).find((name) => name.startsWith('oidc.user:'));
      if (key === undefined) throw new Error('no stored user');
      const user = JSON.parse(storage.getItem(key) ?? '{}') as StoredUser;
      if (!user.refresh_token) throw new Error('the provider issued no refresh token');
      user.expires_at = Math.floor(Date.now() / 1000) - 60;
      storage.setItem(key, JSON.stringify(user));
      return user.access_token;
    });
    await page.reload();

    await page.getByTestId('account-name').filter({ hasText: 'alice' }).waitFor();
    await page.getByTestId('job-row').first().waitFor();
    const renewed = await page.evaluate(() => {
      const storage = (globalThis as unknown as { sessionStorage: PageStorage }).sessionStorage;
      const key = Object.keys(storage).find((name) => name.startsWith('oidc.user:'));
      return (JSON.parse(storage.getItem(key ?? '') ?? '{}') as StoredUser).access_token;
    });
    assert.notEqual(renewed, expired, 'the page should have fetched a new access token');
    assert.equal(await page.getByTestId('error-alert').count(), 0);
  });

  it('shows admins the scaling panel', async () => {
    await mesh.observer!.refresh();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).click();
    // After a sign-out the page requests the provider's login page again, so another user can sign in.
    await signInAtProvider(page, 'admin');

    await page.getByTestId('account-name').filter({ hasText: 'admin' }).waitFor();
    assert.match(await page.getByTestId('account-roles').innerText(), /faas-admin/);
    const panel = page.getByTestId('scaling-panel');
    await panel.getByTestId('scale-decision').waitFor();
    assert.match(await panel.innerText(), /Desired workers/);
    await panel.getByText(/Recent scale events/).waitFor();
    assert.equal(await panel.getByTestId('error-alert').count(), 0, await panel.innerText());

    // An admin's list contains every user's jobs, so it names their owners.
    await page.getByRole('heading', { name: 'All jobs' }).waitFor();
    await page.getByTestId('job-owner').first().waitFor();
    const owners = await page.getByTestId('job-owner').allInnerTexts();
    assert.ok(owners.length > 0 && owners.every((owner) => owner === 'alice'), `owners: ${owners.join(', ')}`);
  });
});

/** The part of the browser's Storage API that the test uses inside the page; the test compiles without DOM types. */
interface PageStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The user record that oidc-client-ts keeps in session storage. */
interface StoredUser {
  access_token: string;
  refresh_token?: string;
  /** Epoch seconds. */
  expires_at: number;
}

/** Chooses `username` on the development provider's sign-in page and waits for the way back to the page. */
async function signInAtProvider(page: Page, username: string): Promise<void> {
  await page.waitForURL(/\/realms\/faas\/interaction\//);
  await page.locator(`button[name="username"][value="${username}"]`).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/realms/') && url.pathname !== '/callback');
}
