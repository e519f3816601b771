import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from './support/index.js';
import { startDemo, type DemoUrls } from './support/demo.js';

/**
 * What a person sees in a real browser (Debian's chromium, driven by playwright-core) on the demo:
 * Bull Board behind Basic auth with its four queues, a finished sync job with its progress and its
 * log lines, and the simulated Chatwoot and Google Chat pages. Screenshots go to a temporary
 * directory, never into the repository.
 */
const CHROMIUM = '/usr/bin/chromium';

describe('the demo in a real browser', () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const shots = tempDir('browser-shots');
  const demo = startDemo({
    database: `t_browser_demo_${suffix}`,
    prefix: `t-browser-demo-${suffix}`,
    envOut: join(tempDir('browser-demo'), 'env.demo'),
  });
  let urls: DemoUrls;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    await demo.ready();
    urls = demo.urls();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    // Credentials at the prompt (what a person types there), not in the URL.
    context = await browser.newContext({ httpCredentials: { username: 'demo', password: 'demo' } });
    page = await context.newPage();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await demo.stop();
    await demo.cleanup();
  });

  it('asks for credentials before it shows Bull Board', async () => {
    const anonymous = await browser.newContext();
    try {
      const tab = await anonymous.newPage();
      const challenges: string[] = [];
      tab.on('response', (r) => {
        if (r.status() === 401) challenges.push(r.headers()['www-authenticate'] ?? '');
      });
      // Headless Chromium has no one at the prompt: the page is refused, after a Basic challenge.
      await expect(tab.goto(urls.board)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect(challenges[0]).toMatch(/^Basic /);
    } finally {
      await anonymous.close();
    }
  });

  it('shows the four queues in Bull Board', async () => {
    await page.goto(urls.board);
    const nav = page.getByRole('navigation');
    for (const queue of ['sync', 'cleanup', 'monitor', 'notifications'])
      await nav.getByRole('link', { name: queue, exact: true }).waitFor();
    // Not stuck on "Loading": the overview lists each queue with its job count.
    await page
      .getByText(/^\d+ Jobs?$/)
      .first()
      .waitFor();
    await shot('board');
  }, 60_000);

  it('opens the finished sync job and shows its progress and its log lines', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'sync', exact: true }).click();
    await page.getByRole('link', { name: /^COMPLETED/ }).click();
    // The demo's first sync, started from the CLI: its listing job.
    const listing = page.locator('a[href*="/queue/sync/"]', { hasText: 'sync-run' }).filter({ hasText: /^#/ });
    await listing.first().click();
    await page.waitForURL(/\/queue\/sync\/[^/?]+\?status=completed$/);
    await page.getByRole('tabpanel').getByText('jobData').waitFor();
    expect(await page.getByRole('tabpanel').innerText()).toMatch(/trigger:\s*"cli"/);

    await page.getByRole('tab', { name: 'Progress', exact: true }).click();
    const progress = await page.getByRole('tabpanel').innerText();
    expect(progress).toContain('phase:"listed"');
    expect(progress).toMatch(/orgsListed:60\b/);
    expect(progress).toMatch(/customersQueued:41\b/);

    await page.getByRole('tab', { name: 'Logs', exact: true }).click();
    await page
      .getByRole('tabpanel')
      .getByText(/^listed \(full\)/)
      .waitFor();
    expect(await page.getByRole('tabpanel').innerText()).toMatch(
      /listed \(full\): 1 organization page\(s\) with 60 organization\(s\), 1 person page\(s\); 41 customer\(s\) queued in 1 batch\(es\)/,
    );
    await shot('sync-run-logs');

    // Its batch: all 41 organizations done, and the run's totals in its log.
    await page.goto(urls.board.replace(/\/?$/, '/queue/sync?status=completed'));
    await page.locator('a[href*="/queue/sync/batch-"]').first().click();
    await page.getByRole('tab', { name: 'Progress', exact: true }).click();
    const batchProgress = await page.getByRole('tabpanel').innerText();
    expect(batchProgress).toMatch(/orgsDone:41\b/);
    expect(batchProgress).toMatch(/orgsTotal:41\b/);
    await page.getByRole('tab', { name: 'Logs', exact: true }).click();
    await page
      .getByRole('tabpanel')
      .getByText(/^batch 0 of run/)
      .waitFor();
    const batchLog = await page.getByRole('tabpanel').innerText();
    expect(batchLog).toMatch(/created 40, updated 0, adopted 1, unchanged 0, warning \d+, failed 0/);
    expect(batchLog).toMatch(/^run \S+ succeeded: created 40, /m);
    await shot('sync-batch-logs');
  }, 90_000);

  it('shows the contacts in the simulated Chatwoot', async () => {
    await page.goto(urls.contacts);
    await expect(page.locator('[data-count="customer"]').innerText()).resolves.toBe('41');
    await expect(page.locator('[data-count="former"]').innerText()).resolves.toBe('1');
    const rows = page.getByRole('row').filter({ hasText: 'pipedrive:org:' });
    await expect(rows.count()).resolves.toBe(42);
    await expect(rows.filter({ hasText: 'Former customer' }).count()).resolves.toBe(1);
    await shot('chatwoot');
  });

  it('shows the test alert in the simulated Google Chat space as a card, not as markup', async () => {
    await page.goto(urls.chat);
    await page.getByText('Pipedrive-Chatwoot Sync Alert').first().waitFor();
    const text = await page.locator('body').innerText();
    expect(text).toContain('Test notification from pipedrive-chatwoot-sync');
    expect(text).toMatch(/Level\s+ℹ️ INFO/);
    expect(text).not.toMatch(/cardsV2|"header"|<b>|\{"text"/);
    await shot('google-chat');
  });
});
