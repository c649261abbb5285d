import { Controller, Get, Header, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { metricsRegistry } from '../metrics/metrics';
import { ReadinessRegistry } from './readiness.registry';

/** Liveness, readiness and Prometheus metrics, the same on every service. */
@Controller()
export class OpsController {
  constructor(private readonly readiness: ReadinessRegistry) {}

  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() reply: FastifyReply): Promise<void> {
    const report = await this.readiness.report();
    await reply.status(report.ready ? 200 : 503).send(report);
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('Content-Type', metricsRegistry.contentType).send(await metricsRegistry.metrics());
  }
}
