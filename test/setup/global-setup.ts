import { provideInfra } from '../support/infra';

export default async function globalSetup(): Promise<void> {
  const infra = await provideInfra();
  // Test workers are forked after this point and inherit the variables.
  process.env.NATS_URL = infra.natsUrl;
  process.env.REDIS_URL = infra.redisUrl;
  (globalThis as { __CHATTENSOR_INFRA__?: typeof infra }).__CHATTENSOR_INFRA__ = infra;
}
