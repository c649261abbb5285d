import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode } from '@chattensor/common';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The page's files, next to the compiled code in both layouts (src/ and dist/). */
export const PUBLIC_DIR = join(__dirname, '..', '..', 'public');

/**
 * The web chat and status pages: a handful of static files loaded into
 * memory at start and served with strict headers. Nothing comes from a CDN.
 */
@Controller()
export class WebController {
  private readonly files = new Map<string, Buffer>();

  constructor() {
    for (const name of readdirSync(PUBLIC_DIR)) this.files.set(name, readFileSync(join(PUBLIC_DIR, name)));
  }

  @Get()
  index(@Res() reply: FastifyReply): void {
    this.send(reply, 'index.html');
  }

  @Get('status')
  statusPage(@Res() reply: FastifyReply): void {
    this.send(reply, 'status.html');
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): void {
    this.send(reply, name);
  }

  private send(reply: FastifyReply, name: string): void {
    const body = this.files.get(name);
    if (!body) throw new AppError(ErrorCode.NotFound, `No such file: ${name}`);
    void reply
      .header('Content-Type', TYPES[extname(name)] ?? 'application/octet-stream')
      .header('Cache-Control', name.endsWith('.html') ? 'no-cache' : 'public, max-age=300')
      .header('X-Content-Type-Options', 'nosniff')
      .header(
        'Content-Security-Policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
      )
      .send(body);
  }
}
