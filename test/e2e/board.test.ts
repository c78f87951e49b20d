/**
 * The board as an operator uses it, in Debian's Chromium driven by
 * playwright-core: it asks for credentials, shows a dead-lettered event with
 * a readable title and its payload, retries it from the UI (the receiver then
 * gets it, same webhook-id), and in read-only mode shows no retry while the
 * API refuses one with 405. Doubles: stream emulator, recording receiver
 * (answering 500 to dead-letter events), throwaway redis-server; real
 * ingester, dispatcher and board-only processes.
 * Oracles: what the page shows, HTTP statuses, the receiver's records.
 *
 * UPDATE_DOCS_SCREENSHOT=1 also writes docs/bull-board.png.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import { eventId } from '../../ingester/stream/frame.js';
import { DEFAULT_DESTINATION, destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { freePort } from '../helpers/free-port.js';
import { startProcess, type ManagedProcess } from '../helpers/processes.js';
import { queuedEvents } from '../helpers/queued-events.js';
import type { EmittedFrame } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { scaled, waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
// Headless on a CI machine: no sandbox (root), no GPU, no traffic of the browser's own.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const USER = 'ops';
const PASSWORD = 'board-Pa55word';
const BASE = '/ops/board';
const SCREENSHOT = fileURLToPath(new URL('../../../docs/bull-board.png', import.meta.url));

// Without Chromium a developer machine skips, saying why; CI installs it (.ci/run) and must not skip.
const skip = !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} not found (apt-get install chromium)` : false;

describe('bull-board in a browser', { skip }, () => {
  let bed: TestBed;
  let env: Record<string, string>;
  let dispatcher: ManagedProcess;
  let browser: Browser;
  let profileDir: string;
  let board: string;
  let boardProcess: ManagedProcess;

  /** Publishes one event while the receiver answers 500, and waits until the dispatcher gives it up. */
  async function deadLetter(): Promise<{ frame: EmittedFrame; jobId: string }> {
    bed.receiver.setFaults(() => ({ status: 500 }));
    const since = dispatcher.logs.length;
    const [frame] = bed.emulator.publish({ event: 'create', entityType: 'malware' });
    const line = await dispatcher.waitForLog((l) => l.msg === 'delivery.gave_up', 15_000, 'delivery.gave_up', since);
    bed.receiver.setFaults(undefined);
    return { frame: frame!, jobId: String(line.jobId) };
  }

  async function failedPage(context: BrowserContext, url: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(scaled(10_000));
    await page.goto(`${url}/queue/events?status=failed`);
    return page;
  }

  before(async () => {
    bed = await startTestBed();
    env = bed.env({ WEBHOOK_RETRY_ATTEMPTS: '1' });
    await startProcess('ingester', env);
    dispatcher = await startProcess('dispatcher', env);
    const port = await freePort();
    board = `http://127.0.0.1:${port}${BASE}`;
    boardProcess = await startProcess('board', { ...env, BULL_BOARD_PORT: String(port), BULL_BOARD_BASE_PATH: BASE, BULL_BOARD_USERNAME: USER, BULL_BOARD_PASSWORD: PASSWORD });
    // A profile of its own, removed afterwards: nothing from a developer's browser leaks in.
    profileDir = await mkdtemp(join(tmpdir(), 'opencti-webhook-chromium-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, `--disk-cache-dir=${profileDir}`] });
  });

  after(async () => {
    await browser?.close();
    await bed?.close();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  it('asks for credentials on every path, and refuses wrong ones', async () => {
    // Headless Chromium has no prompt to show: it cancels the navigation after the challenge.
    const anonymous = await browser.newContext();
    const page = await anonymous.newPage();
    const [response] = await Promise.all([page.waitForResponse(`${board}/`), page.goto(`${board}/`).catch(() => undefined)]);
    assert.equal(response.status(), 401);
    assert.match((await response.headerValue('www-authenticate')) ?? '', /^Basic realm="opencti-webhook board"/);
    await anonymous.close();

    const origin = new URL(board).origin;
    for (const path of [`${BASE}/`, `${BASE}/api/queues`, `${BASE}/static/favicon.ico`, '/', '/not-the-board']) {
      const answer = await request(`${origin}${path}`);
      await answer.body.dump();
      assert.equal(answer.statusCode, 401, path);
    }
    const wrong = await request(`${board}/api/queues`, { headers: { authorization: `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}` } });
    await wrong.body.dump();
    assert.equal(wrong.statusCode, 401);
  });

  it('shows a dead-lettered event with its title and payload, retries it from the UI, and the receiver gets it with the same webhook-id', async () => {
    const { frame, jobId } = await deadLetter();
    const envelope = JSON.parse(frame.data) as { message: string; data: { name: string } };
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport: { width: 1360, height: 820 } });
    const policyViolations: string[] = [];
    context.on('console', (message) => {
      if (/Content Security Policy/.test(message.text())) policyViolations.push(message.text());
    });
    const page = await failedPage(context, board);

    const card = page.locator('[class*="card-"]', { has: page.getByText(jobId, { exact: true }) });
    await card.getByText(`create · Malware · ${envelope.data.name}`, { exact: true }).waitFor();
    // The Data tab opens by default and shows the body as JSON, not as an escaped string.
    await card.getByText(envelope.message).first().waitFor();
    await card.getByText('body:').waitFor();
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await page.screenshot({ path: SCREENSHOT });

    const retry = card.locator('button:has(svg.lucide-refresh-cw)');
    await retry.hover();
    await page.getByText('Retry', { exact: true }).waitFor();
    await retry.click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await bed.receiver.waitForIds([jobId], 10_000);

    const requests = bed.receiver.requests.filter((r) => r.headers['webhook-id'] === jobId);
    assert.deepEqual(requests.map((r) => r.status), [500, 200]);
    assert.equal(requests[1]?.body, frame.data, 'the retried body is the original, byte for byte');
    // A retry starts over with the full budget: one attempt made since, not two.
    const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    const job = await waitFor(async () => {
      const found = await queue.getJob(jobId);
      return found?.finishedOn ? found : undefined;
    }, { timeoutMs: 2_000, what: 'the retried job to be completed' });
    assert.equal(job.attemptsMade, 1);
    await queue.close();
    // The only thing the policy blocks is the UI's third-party font stylesheet.
    assert.deepEqual(policyViolations.filter((text) => !text.includes('fonts.googleapis.com')), []);
    await context.close();
  });

  it('refuses to add or edit events, and cross-site form posts, even in read-write mode', async () => {
    const authorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const cases = [
      { method: 'POST' as const, path: '/api/queues/events/add', status: 405 },
      { method: 'PATCH' as const, path: '/api/queues/events/any-id/update-data', status: 405 },
      { method: 'PUT' as const, path: '/api/queues/events/any-id/retry', status: 403, headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' } },
    ];
    for (const { method, path, status, headers } of cases) {
      const answer = await request(`${board}${path}`, { method, headers: { authorization, 'content-type': 'application/json', ...headers }, body: '{}' });
      await answer.body.dump();
      assert.equal(answer.statusCode, status, `${method} ${path}`);
    }
  });

  it('in read-only mode shows the event without any retry, and the API refuses a retry with 405', async () => {
    const { jobId } = await deadLetter();
    const port = await freePort();
    const readOnly = `http://127.0.0.1:${port}`;
    // On loopback a board may run without credentials (it warns).
    const process = await startProcess('board', { ...env, BULL_BOARD_PORT: String(port), BULL_BOARD_READ_ONLY: 'true' });
    assert.ok(process.logs.some((line) => String(line.msg).startsWith('board.unauthenticated')));

    const context = await browser.newContext();
    const page = await failedPage(context, readOnly);
    const card = page.locator('[class*="card-"]', { has: page.getByText(jobId, { exact: true }) });
    await card.getByText('create · Malware ·', { exact: false }).waitFor();
    assert.equal(await card.locator('button:has(svg.lucide-refresh-cw)').count(), 0, 'a retry button is shown');
    assert.equal(await page.getByText('Retry all').count(), 0, 'a retry-all button is shown');
    await context.close();

    const answer = await request(`${readOnly}/api/queues/events/${encodeURIComponent(jobId)}/retry`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    await answer.body.dump();
    assert.equal(answer.statusCode, 405);
    assert.ok(await bed.redis.client().zscore(`${queuePrefix(env.CONNECTOR_ID!)}:events:failed`, jobId), 'the event left the failed set');
  });

  it('pausing in the UI is recorded for the breaker; Empty and a job\'s remove button are refused with a reason and delete nothing; resuming delivers them', async () => {
    const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    const pauseKey = destinationKeys(env.CONNECTOR_ID!, DEFAULT_DESTINATION).operatorPause;
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport: { width: 1360, height: 820 } });
    const page = await context.newPage();
    page.setDefaultTimeout(scaled(10_000));
    await page.goto(`${board}/queue/events?status=waiting`);
    const queueAction = async (name: string, confirm: boolean): Promise<void> => {
      await page.locator('button:has(svg.lucide-ellipsis-vertical)').click();
      await page.getByRole('menuitem', { name, exact: true }).click();
      if (confirm) await page.getByRole('button', { name: 'Confirm' }).click();
    };

    await queueAction('Pause', true);
    const record = await waitFor(() => bed.redis.client().get(pauseKey), { timeoutMs: 5_000, what: 'the operator pause record' });
    assert.equal((JSON.parse(record) as { by: string }).by, USER);
    // The record is written first, the pause right after it (board/queue.ts): wait for both.
    await waitFor(async () => (await queue.isPaused()) || undefined, { timeoutMs: 5_000, what: 'the queue to be paused' });
    const frames = bed.emulator.publishMany(3);
    const ids = frames.map((f) => eventId(f.event, f.id, f.data));
    await waitFor(async () => (await queue.getJobCounts('waiting')).waiting === 3, { timeoutMs: 10_000, what: '3 waiting events' });

    await queueAction('Empty', true);
    await page.getByText('emptying the queue would delete undelivered events', { exact: false }).waitFor();
    const card = page.locator('[class*="card-"]', { has: page.getByText(ids[0]!, { exact: true }) });
    await card.locator('button:has(svg.lucide-trash-2)').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('removing it would delete undelivered events', { exact: false }).waitFor();
    assert.deepEqual((await queuedEvents(queue, ['waiting'])).map((e) => e.id).sort(), [...ids].sort());

    await queueAction('Resume', true);
    await bed.receiver.waitForIds(ids, 15_000);
    assert.equal(await bed.redis.client().exists(pauseKey), 0, 'the resume left the operator pause recorded');
    await context.close();
    await queue.close();
  });

  it('never writes the board password to its output', () => {
    assert.ok(!(boardProcess.stdout + boardProcess.stderr).includes(PASSWORD), 'the board password reached the logs');
  });
});
