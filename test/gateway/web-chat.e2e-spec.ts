import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expectEventually } from '../support/expect-eventually';
import { dumpLogsOnFailure, scrapeMetric, startGatewayStack, type GatewayTestStack } from './gateway-stack';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'web-chat-admin-token-0123456789';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  process.stderr.write(
    `web chat browser tests skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)\n`,
  );
}
const describeInBrowser = haveChromium ? describe : describe.skip;

/**
 * The web chat and status pages in headless Chromium against the whole
 * stack: a user types, watches the answer stream in with the miner that wrote
 * it, stops an answer, regenerates one, switches conversations, and reads the
 * status page, on a phone-sized screen.
 */
describeInBrowser('the web chat in a browser', () => {
  let env: GatewayTestStack;
  let browser: BrowserContext;
  let page: Page;
  const profile = mkdtempSync(join(tmpdir(), 'chattensor-chromium-'));
  const pageErrors: string[] = [];
  const external: string[] = [];

  beforeAll(async () => {
    // Long answers (about two seconds with the tiny model) leave time to watch them stream and to stop one.
    env = await startGatewayStack({
      miners: 1,
      redisDb: 14,
      greedy: true,
      env: { DEFAULT_MAX_TOKENS: '900', ADMIN_TOKEN },
    });
    // A new, empty profile: the persistent-context form is how playwright takes --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // A CSP violation is reported on the console: the pages must need nothing outside 'self'.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        pageErrors.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) pageErrors.push(`${response.status()} ${response.url()}`);
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(env.stack.gatewayUrl)) external.push(request.url());
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await env?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  afterEach(() => dumpLogsOnFailure(env.logs));

  /** Records the answer's text length at every DOM change, so a test can tell streaming from one late paint. */
  async function watchLastAnswer(): Promise<void> {
    // Runs in the page (a string: this project's TypeScript has no DOM types).
    await page.evaluate(`
      window.lengths = [];
      new MutationObserver(() => {
        const answers = document.querySelectorAll('.msg.assistant .text');
        const last = answers[answers.length - 1];
        if (last) window.lengths.push(last.textContent.length);
      }).observe(document.getElementById('log'), { subtree: true, childList: true, characterData: true });
    `);
  }

  const lengths = () => page.evaluate<number[]>('window.lengths');
  /** The page's anonymous session, for reading its conversations from the test. */
  const session = async () => ({
    cookie: (await browser.cookies(env.stack.gatewayUrl)).map((c) => `${c.name}=${c.value}`).join('; '),
  });
  const answers = (p: Page) => p.locator('.msg.assistant');

  it('streams an answer into the page and names the miner that wrote it', async () => {
    await page.goto(env.stack.gatewayUrl);
    await watchLastAnswer();
    await page.locator('#prompt').fill('Hello miners, how are you?');
    await page.locator('#prompt').press('Enter');
    await expectEventually(async () =>
      expect(await page.locator('.msg.user').first().textContent()).toBe('Hello miners, how are you?'),
    );
    // While it streams, the Stop button is offered.
    await expectEventually(async () => expect(await page.locator('#stop').isVisible()).toBe(true), 5000);
    const meta = answers(page).first().locator('.meta');
    await expectEventually(
      async () =>
        expect(await meta.textContent()).toMatch(/^miner uid \d+ · \w+…\w+ · score (\d\.\d{3}|n\/a)$/),
      20_000,
    );
    const seen = (await lengths()).filter((n) => n > 0);
    // The text only ever grew as deltas arrived (never repainted shorter or replaced), up to the whole
    // answer. How many paints it took depends on how the deltas happened to be batched on the way
    // (a busy machine delivers many at once), so the count of steps is not asserted.
    expect(seen.length).toBeGreaterThan(0);
    seen.forEach((n, i) => expect(n).toBeGreaterThanOrEqual(seen[i - 1] ?? 0));
    expect(seen.at(-1)).toBe((await answers(page).first().locator('.text').textContent())!.length);
    expect(await page.locator('#stop').isVisible()).toBe(false);
    expect(await page.locator('#regenerate').isVisible()).toBe(true);
    // The conversation is listed under the first message's words.
    await expectEventually(async () =>
      expect(await page.locator('#conversations li').first().textContent()).toContain('Hello miners'),
    );
  }, 60_000);

  it('stops an answer mid-stream, and the miner stops generating', async () => {
    const miner = env.stack.services.find((s) => s.name === 'miner-1')!;
    const cancelledBefore = await scrapeMetric(
      miner.httpPort,
      'chattensor_miner_requests_total{outcome="cancelled"}',
    );
    // The random model may end an answer (end-of-turn token) before the click
    // lands; then the stream was simply too short, and the user asks again.
    let answer = answers(page).last();
    let clicked = false;
    for (let attempt = 0; attempt < 6 && !clicked; attempt++) {
      await page.locator('#prompt').fill(`Tell me a very long story, take ${attempt + 1}.`);
      await page.locator('#prompt').press('Enter');
      answer = answers(page).last();
      await expectEventually(
        async () => expect((await answer.locator('.text').textContent())!.length).toBeGreaterThan(5),
        10_000,
        10,
      );
      clicked = await page
        .locator('#stop')
        .click({ timeout: 1000 })
        .then(() => true)
        .catch(() => false);
      if (!clicked)
        await expectEventually(
          async () => expect(await page.locator('#stop').isVisible()).toBe(false),
          20_000,
        );
    }
    expect(clicked).toBe(true);
    await expectEventually(async () => expect(await answer.locator('.note').textContent()).toBe('stopped'));
    const stoppedAt = (await answer.locator('.text').textContent())!.length;
    await expectEventually(async () => {
      expect(
        await scrapeMetric(miner.httpPort, 'chattensor_miner_requests_total{outcome="cancelled"}'),
      ).toBeGreaterThan(cancelledBefore);
      expect(await scrapeMetric(miner.httpPort, 'chattensor_miner_num_requests_running')).toBe(0);
    }, 5000);
    expect((await answer.locator('.text').textContent())!.length).toBe(stoppedAt);
    // The page waits for the gateway to have stored the stopped answer before it takes the next message.
    await expectEventually(async () => expect(await page.locator('#send').isEnabled()).toBe(true), 5000);
    // The question and the answer as far as it streamed are kept, marked as stopped.
    const id = await page.locator('#conversations li.current').getAttribute('data-id');
    const stored = (await (
      await fetch(`${env.stack.gatewayUrl}/v1/conversations/${id}`, { headers: await session() })
    ).json()) as {
      messages: { role: string; content: string; stopped?: boolean }[];
    };
    const [question, partial] = stored.messages.slice(-2);
    expect(question.role).toBe('user');
    expect(partial).toMatchObject({ role: 'assistant', stopped: true });
    // The page keeps each answer's Markdown source beside its rendering.
    expect(partial.content.startsWith((await answer.locator('.text').getAttribute('data-source'))!)).toBe(
      true,
    );
  }, 60_000);

  it('regenerates the last answer in place', async () => {
    // The stopped answer was stored: regenerating replaces it in place.
    const before = await page.locator('.msg').count();
    await page.locator('#regenerate').click();
    await expectEventually(
      async () => expect(await answers(page).last().locator('.meta').count()).toBe(1),
      20_000,
    );
    expect(await page.locator('.msg').count()).toBe(before);
    // Now the gateway stored it, and a second regeneration replaces the stored answer.
    await expectEventually(async () => expect(await page.locator('#regenerate').isVisible()).toBe(true));
    await page.locator('#regenerate').click();
    await expectEventually(async () => expect(await page.locator('#stop').isVisible()).toBe(false), 20_000);
    await expectEventually(
      async () => expect(await answers(page).last().locator('.meta').count()).toBe(1),
      20_000,
    );
    expect(await page.locator('.msg').count()).toBe(before);
    const id = await page.locator('#conversations li.current').getAttribute('data-id');
    const stored = (await (
      await fetch(`${env.stack.gatewayUrl}/v1/conversations/${id}`, { headers: await session() })
    ).json()) as {
      messages: { role: string; content: string }[];
    };
    expect(stored.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(stored.messages[3].content).toBe(
      await answers(page).last().locator('.text').getAttribute('data-source'),
    );
  }, 90_000);

  it('switches between conversations from the list', async () => {
    await page.locator('#toggle-sidebar').click();
    await page.locator('#new-chat').click();
    expect(await page.locator('.msg').count()).toBe(0);
    await page.locator('#prompt').fill('A second topic');
    await page.locator('#prompt').press('Enter');
    await expectEventually(
      async () => expect(await page.locator('#conversations li').count()).toBe(2),
      20_000,
    );
    await expectEventually(async () => expect(await page.locator('#stop').isVisible()).toBe(false), 20_000);
    await page.locator('#toggle-sidebar').click();
    await page.locator('#conversations li', { hasText: 'Hello miners' }).locator('button.open').click();
    await expectEventually(async () =>
      expect(await page.locator('.msg.user').first().textContent()).toBe('Hello miners, how are you?'),
    );
    expect(await page.locator('#title').textContent()).toContain('Hello miners');
    // Stored answers keep showing their miner.
    expect(await answers(page).first().locator('.meta').textContent()).toMatch(/^miner uid \d+/);
  }, 60_000);

  it('shows the validator, its delegation command, the miners and the health of every service on the status page', async () => {
    await page.goto(`${env.stack.gatewayUrl}/status`);
    await expectEventually(async () =>
      expect(await page.locator('#validator dd').first().textContent()).toBe(env.stack.validatorHotkey),
    );
    expect(await page.locator('#delegate-command').textContent()).toContain(`btcli stake add --netuid`);
    expect(await page.locator('#delegate-command').textContent()).toContain(env.stack.validatorHotkey);
    await expectEventually(async () => expect(await page.locator('#miners tbody tr').count()).toBe(1));
    expect(await page.locator('#miners tbody td.hotkey').first().textContent()).toBe(
      env.stack.minerHotkeys[0],
    );
    // Which model answers, as the active miners announce it.
    const minerModel = await page.locator('#miners tbody tr td').nth(2).textContent();
    await expectEventually(async () =>
      expect(await page.locator('#served-model').textContent()).toBe(`Model served: ${minerModel}`),
    );
    // The miner has answered, so a validator has scored it.
    await expectEventually(
      async () =>
        expect(Number(await page.locator('#miners tbody td.score').first().textContent())).toBeGreaterThan(0),
      15_000,
    );
    // The leader's synthetic questions are verified against the reference model and counted per miner.
    await expectEventually(
      async () =>
        expect(await page.locator('#miners tbody td.verification').first().textContent()).toMatch(
          /^[1-9]\d* ok \([1-9]\d* synthetic\)/,
        ),
      40_000,
      500,
    );
    for (const service of ['gateway', 'chain_indexer', 'validators', 'miners']) {
      expect(await page.locator(`#health li[data-service="${service}"]`).getAttribute('class')).toBe('up');
    }
    // The table scrolls inside its card instead of widening the phone's page.
    const pageWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
    expect(pageWidth).toBeLessThanOrEqual(390);
  }, 70_000);

  it('chats with an API key entered in the page, into that key’s own conversations', async () => {
    const created = (await (
      await fetch(`${env.stack.gatewayUrl}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'browser' }),
      })
    ).json()) as { key: string };
    await page.goto(env.stack.gatewayUrl);
    await expectEventually(async () => expect(await page.locator('#conversations li').count()).toBe(2));
    await page.locator('#toggle-sidebar').click();
    await page.locator('#key-settings summary').click();
    await page.locator('#api-key').fill(created.key);
    await page.locator('#key-form button').click();
    // The key owns no conversation yet.
    await expectEventually(async () => expect(await page.locator('#conversations li').count()).toBe(0));
    await page.locator('#prompt').fill('Keyed question');
    await page.locator('#prompt').press('Enter');
    await expectEventually(
      async () => expect(await answers(page).last().locator('.meta').count()).toBe(1),
      20_000,
    );
    const list = async (headers: Record<string, string>) =>
      (
        (await (await fetch(`${env.stack.gatewayUrl}/v1/conversations`, { headers })).json()) as {
          data: { title: string }[];
        }
      ).data.map((c) => c.title);
    expect(await list({ authorization: `Bearer ${created.key}` })).toEqual(['Keyed question']);
    expect(await list({})).not.toContain('Keyed question');
  }, 60_000);

  it('renders answers as Markdown with a copy button on code, and never turns a model’s or a user’s HTML into elements', async () => {
    const other = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const context = await other.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
      const reader = await context.newPage();
      const errors: string[] = [];
      reader.on('pageerror', (error) => errors.push(error.message));
      const listed = reader.waitForResponse((response) => response.url().endsWith('/v1/conversations'));
      await reader.goto(env.stack.gatewayUrl);
      await listed;
      const cookie = (await context.cookies(env.stack.gatewayUrl))
        .map((c) => `${c.name}=${c.value}`)
        .join('; ');
      const headers = { cookie, 'content-type': 'application/json' };
      const { id } = (await (
        await fetch(`${env.stack.gatewayUrl}/v1/conversations`, { method: 'POST', headers, body: '{}' })
      ).json()) as { id: string };
      const code = 'print("<b>hi</b>")\nif a < b and c > d: pass';
      const answer = [
        'Here is **bold** and *italic* with `inline <i>code</i>`.',
        '',
        '- first',
        '- second',
        '',
        '1. one',
        '2. two',
        '',
        '```python',
        code,
        '```',
        '',
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>raw</b>',
        '[click](javascript:window.pwned=3) and [docs](https://example.org/docs)',
      ].join('\n');
      // A conversation whose stored history holds that answer (a request may carry earlier turns).
      const stored = await fetch(`${env.stack.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'chattensor',
          conversation_id: id,
          max_tokens: 2,
          messages: [
            { role: 'user', content: 'Show me <img src=x onerror="window.pwned=4"> **not bold**' },
            { role: 'assistant', content: answer },
            { role: 'user', content: 'thanks' },
          ],
        }),
      });
      expect(stored.status).toBe(200);
      const opened = reader.waitForResponse((response) => response.url().endsWith(`/v1/conversations/${id}`));
      await reader.reload();
      await expectEventually(async () => expect(await reader.locator('#conversations li').count()).toBe(1));
      await reader.locator('#conversations li button.open').click();
      await opened;
      const rendered = reader.locator('.msg.assistant .text').first();
      await expectEventually(async () => expect(await rendered.locator('li').count()).toBe(4));
      expect(await rendered.locator('strong').textContent()).toBe('bold');
      expect(await rendered.locator('em').textContent()).toBe('italic');
      expect(await rendered.locator('p code').textContent()).toBe('inline <i>code</i>');
      expect(await rendered.locator('ul li').allTextContents()).toEqual(['first', 'second']);
      expect(await rendered.locator('ol li').allTextContents()).toEqual(['one', 'two']);
      expect(await rendered.locator('pre code').textContent()).toBe(code);
      expect(await rendered.locator('a').count()).toBe(1);
      expect(await rendered.locator('a').getAttribute('href')).toBe('https://example.org/docs');
      // The HTML is shown as the characters it is made of; no element came from it, nothing ran.
      expect(await rendered.textContent()).toContain(
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>raw</b>',
      );
      expect(await rendered.textContent()).toContain('[click](javascript:window.pwned=3)');
      expect(await reader.locator('#log img, #log script, #log b, #log i, #log [onerror]').count()).toBe(0);
      // The user's words are shown as typed, not as Markdown.
      expect(await reader.locator('.msg.user .text').first().textContent()).toBe(
        'Show me <img src=x onerror="window.pwned=4"> **not bold**',
      );
      expect(await reader.evaluate<unknown>('window.pwned')).toBeUndefined();
      // The copy button puts the code, exactly, on the clipboard.
      await rendered.locator('.code-block button.copy').click();
      await expectEventually(async () =>
        expect(await rendered.locator('button.copy').textContent()).toBe('Copied'),
      );
      expect(await reader.evaluate<string>('navigator.clipboard.readText()')).toBe(code);
      expect(errors).toEqual([]);
    } finally {
      await other.close();
    }
  }, 90_000);

  it('keeps each browser’s anonymous conversations private to it', async () => {
    // Two more browsers, each with its own cookie jar, beside the one the other tests used.
    const other = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const alice = await other.newContext();
      const bob = await other.newContext();
      const alicePage = await alice.newPage();
      await alicePage.goto(env.stack.gatewayUrl);
      await alicePage.locator('#prompt').fill('Alice’s secret plan');
      await alicePage.locator('#prompt').press('Enter');
      await expectEventually(
        async () => expect(await answers(alicePage).last().locator('.meta').count()).toBe(1),
        20_000,
      );
      await expectEventually(async () =>
        expect(await alicePage.locator('#conversations li').count()).toBe(1),
      );
      const aliceId = await alicePage.locator('#conversations li').first().getAttribute('data-id');
      const [cookie] = await alice.cookies(env.stack.gatewayUrl);
      expect(cookie).toMatchObject({ name: 'ct_session', httpOnly: true, sameSite: 'Lax' });
      // Nothing in the page can read the cookie.
      expect(await alicePage.evaluate<string>('document.cookie')).not.toContain('ct_session');

      const bobPage = await bob.newPage();
      const listed = bobPage.waitForResponse((response) => response.url().endsWith('/v1/conversations'));
      await bobPage.goto(env.stack.gatewayUrl);
      await listed;
      // Bob's list is his own: empty, although Alice and the first browser have conversations.
      expect(await bobPage.locator('#conversations li').count()).toBe(0);
      const peek = (path: string) =>
        bobPage.evaluate<number>(`fetch(${JSON.stringify(path)}).then((r) => r.status)`);
      expect(await peek(`/v1/conversations/${aliceId}`)).toBe(404);
      const bobList = await bobPage.evaluate<{ data: unknown[] }>(
        `fetch('/v1/conversations').then((r) => r.json())`,
      );
      expect(bobList.data).toEqual([]);
      // And neither does a client without any cookie see it.
      expect((await fetch(`${env.stack.gatewayUrl}/v1/conversations/${aliceId}`)).status).toBe(404);

      // Alice still has hers after a reload.
      await alicePage.reload();
      await expectEventually(async () =>
        expect(await alicePage.locator('#conversations li').first().textContent()).toContain(
          'Alice’s secret plan',
        ),
      );
    } finally {
      await other.close();
    }
  }, 90_000);

  it('loaded nothing from outside the gateway and broke no content security rule', () => {
    expect(external).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
