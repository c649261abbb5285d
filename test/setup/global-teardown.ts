import type { Infra } from '../support/infra';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __CHATTENSOR_INFRA__?: Infra }).__CHATTENSOR_INFRA__?.stop();
}
