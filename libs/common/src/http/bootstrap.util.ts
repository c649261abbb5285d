import 'reflect-metadata';
import type { DynamicModule, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyServerOptions } from 'fastify';
import { createRootLogger, PinoNestLogger, rootLogger } from '../logging/logger';
import { initMetrics } from '../metrics/metrics';
import { ConfigError } from '../config/config.util';
import { ReadinessRegistry } from '../health/readiness.registry';

export interface BootstrapOptions {
  service: string;
  module: Type<unknown> | DynamicModule;
  host: string;
  port: number;
  /** Largest request body accepted, in bytes. */
  bodyLimit?: number;
  /** More Fastify server options (router limits, handlers of the framework's own errors). */
  serverOptions?: Omit<FastifyServerOptions, 'bodyLimit' | 'trustProxy'>;
  configure?: (app: NestFastifyApplication) => void | Promise<void>;
}

/**
 * Starts a service: JSON logs, metrics registry, a Fastify HTTP server (API or
 * just the ops endpoints), and graceful shutdown on SIGTERM/SIGINT: readiness
 * turns false first, then Nest's shutdown hooks finish in-flight work.
 */
/** Runs a service's main function; a failure to start is logged and ends the process. */
export function runMain(service: string, main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${JSON.stringify({ level: 'fatal', service, msg: error.message })}\n`);
      process.exit(78);
    }
    const logger = rootLogger();
    logger.fatal({ err: error }, `${service} failed to start`);
    process.stderr.write(`${service}: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

export async function bootstrapService(options: BootstrapOptions): Promise<NestFastifyApplication> {
  const logger = createRootLogger(options.service);
  initMetrics(options.service);
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  process.on('uncaughtException', (error) => logger.error({ err: error }, 'uncaught exception'));

  const app = await NestFactory.create<NestFastifyApplication>(
    options.module,
    new FastifyAdapter({ ...options.serverOptions, bodyLimit: options.bodyLimit ?? 1024 * 1024, trustProxy: true }),
    { logger: new PinoNestLogger(logger), bufferLogs: false },
  );
  await options.configure?.(app);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app.get(ReadinessRegistry).markShuttingDown();
    const force = setTimeout(() => {
      logger.error('shutdown took too long, exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    app
      .close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  await app.listen(options.port, options.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  rootLogger().info({ host: options.host, port }, `${options.service} listening`);
  return app;
}
