import { ReadinessRegistry } from './readiness.registry';

describe('ReadinessRegistry', () => {
  it('is ready when every check passes', async () => {
    const registry = new ReadinessRegistry();
    registry.register('a', () => true);
    registry.register('b', async () => true);
    expect(await registry.report()).toEqual({ ready: true, checks: { a: { ok: true }, b: { ok: true } } });
  });

  it('reports the reason of a failing or throwing check', async () => {
    const registry = new ReadinessRegistry();
    registry.register('model', () => 'model is loading');
    registry.register('redis', () => {
      throw new Error('connection refused');
    });
    const report = await registry.report();
    expect(report.ready).toBe(false);
    expect(report.checks).toEqual({ model: { ok: false, detail: 'model is loading' }, redis: { ok: false, detail: 'connection refused' } });
  });

  it('turns not ready once shutdown starts', async () => {
    const registry = new ReadinessRegistry();
    registry.register('a', () => true);
    registry.markShuttingDown();
    expect((await registry.report()).ready).toBe(false);
  });
});
