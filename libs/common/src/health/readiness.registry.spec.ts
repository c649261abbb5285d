import { metricsRegistry } from '../metrics/metrics';
import { ReadinessRegistry } from './readiness.registry';

describe('ReadinessRegistry', () => {
  it('exports each check as chattensor_readiness_check_ok, evaluated when metrics are scraped', async () => {
    const registry = new ReadinessRegistry();
    let redisUp = true;
    registry.register('nats', () => true);
    registry.register('redis', () => (redisUp ? true : 'redis reconnecting'));

    const before = await metricsRegistry.getSingleMetricAsString('chattensor_readiness_check_ok');
    expect(before).toContain('chattensor_readiness_check_ok{check="nats"} 1');
    expect(before).toContain('chattensor_readiness_check_ok{check="redis"} 1');

    redisUp = false;
    const after = await metricsRegistry.getSingleMetricAsString('chattensor_readiness_check_ok');
    expect(after).toContain('chattensor_readiness_check_ok{check="redis"} 0');
    expect(after).toContain('chattensor_readiness_check_ok{check="nats"} 1');
  });

  it('reports a shutting-down instance as not ready in the metric too', async () => {
    const registry = new ReadinessRegistry();
    registry.register('nats', () => true);
    registry.markShuttingDown();
    const text = await metricsRegistry.getSingleMetricAsString('chattensor_readiness_check_ok');
    expect(text).toContain('chattensor_readiness_check_ok{check="shutdown"} 0');
  });
});
