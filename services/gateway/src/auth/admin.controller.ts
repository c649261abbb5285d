import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { AppError, ErrorCode } from '@chattensor/common';
import { parseWith } from '../chat/chat-request.schema';
import { createApiKeySchema } from '../openapi/api.schemas';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';
import { AdminGuard } from './admin.guard';
import { ApiKeyStore, type ApiKeyRecord } from './api-key.store';

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
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new AppError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
    const parsed = { data: parseWith(createApiKeySchema, body) };
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
