/**
 * @jest-environment ./libs/inference/test/onnxruntime-environment.js
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { freePort, startStack, type Stack } from '../../scripts/stack/stack';
import { expectEventually } from '../support/expect-eventually';

/**
 * Synthetic answers each miner must have had verified (the honest ones) or
 * failed (the cheater) before the weights are judged. The cheater never
 * earns anything, so its score stays 0 whatever the number; the honest
 * miners' scores only need to have moved off zero for their share to show.
 */
const ROUNDS = 6;
const CHROMIUM = '/usr/bin/chromium';

interface StatusMiner {
  uid: number;
  hotkey: string;
  weight: number | null;
  score: number | null;
  verification: {
    verified: number;
    failed: Record<string, number>;
    synthetic_verified: number;
    synthetic_failed: number;
  } | null;
  excluded_until: number | null;
  score_history: number[];
}

interface Status {
  miners: StatusMiner[];
  health: { validators: 'up' | 'down' };
  last_weights: { at: number; uids: number[]; weights: number[] } | null;
}

/**
 * What `CHEATERS=random npm start` shows an operator: the real stack entry
 * (every service its own process, plus the cheating-miner program) on the
 * generated model, over real NATS, Redis and gRPC, with the validator's own
 * synthetic traffic and nothing else. Once every miner has had ROUNDS
 * synthetic questions judged, `/v1/status` must show the cheater's failures
 * with their reason, the cheater excluded and under 1 % of the weights, and
 * the two honest miners holding the rest; the score chart (in Redis) must
 * outlive a validator restart, and the status page in headless Chromium
 * must show the same.
 */
describe('a standalone stack with a cheating miner beside honest ones', () => {
  let stack: Stack;
  const dir = mkdtempSync(join(tmpdir(), 'chattensor-cheater-stack-'));
  const logs: string[] = [];

  const status = async (): Promise<Status> =>
    (await (await fetch(`${stack.gatewayUrl}/v1/status`)).json()) as Status;

  beforeAll(async () => {
    stack = await startStack({
      stateDir: join(dir, 'state'),
      modelDir: join(dir, 'model'),
      gatewayPort: await freePort(),
      miners: 2,
      cheaters: ['random'],
      // NATS and Redis of its own: its validator must not take other suites' jobs, nor they its.
      ownInfra: true,
      netuid: 100 + Math.floor(Math.random() * 1000),
      onLine: (name, line) => logs.push(`${name}: ${line}`),
      // A chart sample every 2 s (30 s by default), so that a few rounds draw several points.
      validatorEnv: { SCORE_HISTORY_INTERVAL_SECONDS: '2', SCORE_HISTORY_SAMPLES: '1000' },
    });
    await expectEventually(async () => {
      expect((await status()).miners).toHaveLength(3);
    }, 90_000);
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    const failed = expect.getState().assertionCalls !== expect.getState().numPassingAsserts;
    if (failed) process.stderr.write(`service logs:\n${logs.slice(-80).join('\n')}\n`);
  });

  it('shows the cheater caught for its reason, excluded, and at under 1 % of the weights', async () => {
    const cheater = stack.cheaters[0].hotkey;
    const honest = new Set(stack.minerHotkeys);
    expect(honest.has(cheater)).toBe(false);

    const judgedAt = await expectEventually(
      async () => {
        const miners = (await status()).miners;
        for (const m of miners.filter((m) => honest.has(m.hotkey)))
          expect(m.verification?.synthetic_verified ?? 0).toBeGreaterThanOrEqual(ROUNDS);
        expect(
          miners.find((m) => m.hotkey === cheater)?.verification?.synthetic_failed ?? 0,
        ).toBeGreaterThanOrEqual(ROUNDS);
        return Date.now();
      },
      300_000,
      500,
    );

    // The first weights set after every miner has had its rounds.
    const after = await expectEventually(
      async () => {
        const s = await status();
        expect(s.last_weights?.at ?? 0).toBeGreaterThan(judgedAt);
        return s;
      },
      120_000,
      500,
    );
    const weightOf = (hotkey: string) => after.miners.find((m) => m.hotkey === hotkey)?.weight ?? 0;
    const total = after.miners.reduce((sum, m) => sum + (m.weight ?? 0), 0);
    expect(total).toBeGreaterThan(0);
    const cheating = after.miners.find((m) => m.hotkey === cheater)!;

    expect(weightOf(cheater) / total).toBeLessThan(0.01);
    expect([...honest].reduce((sum, h) => sum + weightOf(h), 0) / total).toBeGreaterThan(0.95);
    // Counted with the reasons a random-token answer fails on, and none for the honest miners.
    const reasons = Object.keys(cheating.verification!.failed);
    expect(reasons.length).toBeGreaterThan(0);
    for (const reason of reasons)
      expect(reason).toMatch(/^(not_top_token|outside_sampling_set|ignored_stop|implausible_logprob)$/);
    expect(cheating.verification!.verified).toBe(0);
    expect(cheating.excluded_until).toBeGreaterThan(Date.now());
    for (const m of after.miners.filter((m) => honest.has(m.hotkey))) {
      expect(m.verification?.failed).toEqual({});
      expect(m.excluded_until).toBeNull();
    }
    // The chart: the cheater's curve never leaves zero, the honest miners' rise.
    expect(cheating.score_history.length).toBeGreaterThan(1);
    expect(cheating.score_history.every((score) => score === 0)).toBe(true);
    for (const m of after.miners.filter((m) => honest.has(m.hotkey)))
      expect(Math.max(...m.score_history)).toBeGreaterThan(0);
  }, 480_000);

  it('draws the same score chart after the validator restarts', async () => {
    const before = (await status()).miners;
    expect(before.every((m) => m.score_history.length > 1)).toBe(true);
    // Down long enough for the gateway to drop its last report, so what follows comes from the new process.
    await stack.stopService('validator');
    await expectEventually(async () => expect((await status()).health.validators).toBe('down'), 60_000, 500);
    await stack.startService('validator');
    const after = await expectEventually(
      async () => {
        const s = await status();
        expect(s.health.validators).toBe('up');
        return s.miners;
      },
      60_000,
      500,
    );
    for (const m of before) {
      const history = after.find((a) => a.hotkey === m.hotkey)!.score_history;
      expect(history.slice(0, m.score_history.length)).toEqual(m.score_history);
    }
  }, 180_000);

  (existsSync(CHROMIUM) ? it : it.skip)(
    'shows the cheater excluded, with its failures, on the status page',
    async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${stack.gatewayUrl}/status`);
        const uidOf = new Map((await status()).miners.map((m) => [m.hotkey, m.uid]));
        const row = (hotkey: string) => page.locator(`#miners tr[data-uid="${uidOf.get(hotkey)}"]`);
        const cheater = row(stack.cheaters[0].hotkey);
        await cheater.locator('td.verification.excluded').waitFor({ timeout: 30_000 });
        const cheaterText = await cheater.locator('td.verification').innerText();
        expect(cheaterText).toMatch(
          /^0 ok \(0 synthetic\) · failed: .*(not_top_token|outside_sampling_set).*excluded until/,
        );
        expect(await cheater.locator('td.weight').innerText()).toMatch(/^(–|0)$/);
        for (const hotkey of stack.minerHotkeys) {
          expect(await row(hotkey).locator('td.verification').innerText()).toMatch(
            /^\d+ ok \(\d+ synthetic\)$/,
          );
          expect(Number(await row(hotkey).locator('td.weight').innerText())).toBeGreaterThan(0.2);
        }
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
