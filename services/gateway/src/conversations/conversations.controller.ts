import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '@chattensor/common';
import { requestContext } from '../http/request-context';
import { Authenticated } from '../auth/authenticated.decorator';
import { parseWith } from '../chat/chat-request.schema';
import { createConversationSchema } from '../openapi/api.schemas';
import { ConversationStore, type ConversationMeta } from './conversation.store';

function present(meta: ConversationMeta) {
  return {
    id: meta.id,
    object: 'conversation' as const,
    title: meta.title,
    created_at: meta.createdAt,
    updated_at: meta.updatedAt,
  };
}

/** `/v1/conversations`: stored chats; a chat request continues one with `conversation_id`. */
@Controller('v1/conversations')
@Authenticated()
export class ConversationsController {
  constructor(private readonly store: ConversationStore) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() request: FastifyRequest) {
    // No body at all is fine; `null`, an array or a wrong title is a 400.
    if (body === null || (typeof body !== 'object' && body !== undefined) || Array.isArray(body))
      throw new AppError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
    const parsed = parseWith(createConversationSchema, body);
    return present(await this.store.create(requestContext(request).principal.owner, parsed?.title));
  }

  @Get()
  async list(@Req() request: FastifyRequest) {
    const items = await this.store.list(requestContext(request).principal.owner);
    return { object: 'list' as const, data: items.map(present) };
  }

  @Get(':id')
  async get(@Param('id') id: string, @Req() request: FastifyRequest) {
    const owner = requestContext(request).principal.owner;
    const meta = await this.store.get(id, owner);
    const messages = await this.store.messages(id, owner);
    return { ...present(meta), messages };
  }

  @Delete(':id')
  async remove(@Param('id') id: string, @Req() request: FastifyRequest) {
    await this.store.delete(id, requestContext(request).principal.owner);
    return { id, object: 'conversation.deleted' as const, deleted: true };
  }
}
