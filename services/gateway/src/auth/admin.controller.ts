import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AppError, ErrorCode } from '@chattensor/common';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { AdminGuard } from './admin.guard';
import { ApiKeyStore, type ApiKeyRecord } from './api-key.store';

const createKeySchema = z
  .object({
    name: z.string().min(1).max(100),
    requests_per_minute: z.number().int().min(1).max(1_000_000).optional(),
    tokens_per_minute: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict();

export function presentKey(record: ApiKeyRecord) {
  return {
    id: record.id,
    object: 'api_key' as const,
    name: record.name,
    hint: record.hint,
    created_at: Math.floor(record.createdAt / 1000),
    requests_per_minute: record.requestsPerMinute,
    tokens_per_minute: record.tokensPerMinute,
  };
}

/** `/admin/keys`: create, list and revoke API keys (ADMIN_TOKEN only). */
@Controller('admin/keys')
@UseGuards(AdminGuard)
export class AdminController {
  constructor(
    private readonly keys: ApiKeyStore,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown) {
    const parsed = createKeySchema.safeParse(body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = issue.path.map(String).join('.') || undefined;
      throw new AppError(
        ErrorCode.InvalidRequest,
        `Invalid value for '${param ?? 'body'}': ${issue.message}`,
        { param },
      );
    }
    const defaults = this.config.access.keyDefaultLimits;
    const created = await this.keys.create(parsed.data.name, {
      requestsPerMinute: parsed.data.requests_per_minute ?? defaults.requestsPerMinute,
      tokensPerMinute: parsed.data.tokens_per_minute ?? defaults.tokensPerMinute,
    });
    return { ...presentKey(created.record), key: created.key };
  }

  @Get()
  async list() {
    return { object: 'list' as const, data: (await this.keys.list()).map(presentKey) };
  }

  @Delete(':id')
  async revoke(@Param('id') id: string) {
    await this.keys.revoke(id);
    return { id, object: 'api_key.deleted' as const, deleted: true };
  }
}
