import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

/** Header / metadata key that carries the correlation id across every hop. */
export const CORRELATION_HEADER = 'x-correlation-id';

const correlation = new AsyncLocalStorage<{ correlationId: string }>();

export function runWithCorrelation<T>(correlationId: string | undefined, fn: () => T): T {
  return correlation.run({ correlationId: correlationId || randomUUID() }, fn);
}

export function currentCorrelationId(): string | undefined {
  return correlation.getStore()?.correlationId;
}

/** Paths that must never reach a log line. */
const REDACT = [
  'secret',
  'secretPhrase',
  'privateKey',
  'mnemonic',
  'seed',
  'password',
  'apiKey',
  'authorization',
  '*.secret',
  '*.secretPhrase',
  '*.privateKey',
  '*.mnemonic',
  '*.seed',
  '*.password',
  '*.apiKey',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.hotkeyUri',
  'config.adminToken',
];

let root: Logger | undefined;

/**
 * The process-wide pino logger: JSON lines with the service name and, when
 * inside a correlated scope, the correlation id.
 */
export function createRootLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  root = pino({
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => {
      const id = currentCorrelationId();
      return id ? { correlationId: id } : {};
    },
    formatters: { level: (label) => ({ level: label }) },
  });
  return root;
}

export function rootLogger(): Logger {
  return root ?? createRootLogger('chattensor');
}

/** Nest's LoggerService over pino, so framework messages are JSON too. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    if (message instanceof Error) {
      this.logger[level]({ context, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ context, ...message });
    } else {
      this.logger[level]({ context }, String(message));
    }
  }
}
