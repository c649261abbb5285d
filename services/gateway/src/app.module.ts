import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { NatsModule, OpsModule, RedisModule, RedisService } from '@chattensor/common';
import { MetagraphModule } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from './config/config.token';
import type { GatewayConfig } from './config/gateway.config';
import { OpenAIExceptionFilter } from './errors/openai-exception.filter';
import { AdminController } from './auth/admin.controller';
import { AdminGuard } from './auth/admin.guard';
import { AnonymousSessions } from './auth/anonymous-session';
import { ApiKeyGuard } from './auth/api-key.guard';
import { ApiKeyStore } from './auth/api-key.store';
import { ChatController } from './chat/chat.controller';
import { ChatRelay } from './chat/chat-relay.service';
import { ChatService } from './chat/chat.service';
import { RateLimiter } from './limits/rate-limiter';
import { ModelsController } from './models/models.controller';
import { ModelsService } from './models/models.service';
import { ContextWindow } from './models/context-window.service';
import { ConversationsController } from './conversations/conversations.controller';
import { ConversationStore } from './conversations/conversation.store';
import { OpenApiController } from './openapi/openapi.controller';
import { StatusController } from './status/status.controller';
import { StatusService } from './status/status.service';
import { WebController } from './web/web.controller';

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        OpsModule,
        NatsModule.forRoot({ servers: config.natsServers, name: 'gateway' }),
        // A Redis that does not answer within 2 s fails the request with 503 rather than holding it.
        RedisModule.forRoot({ url: config.redisUrl, name: 'gateway', commandTimeoutMs: 2000 }),
        MetagraphModule.forRoot(config.netuid),
      ],
      controllers: [
        ChatController,
        ModelsController,
        ConversationsController,
        StatusController,
        AdminController,
        OpenApiController,
        WebController,
      ],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        {
          provide: ApiKeyStore,
          inject: [RedisService],
          useFactory: (redis: RedisService) => new ApiKeyStore(redis.client),
        },
        {
          provide: RateLimiter,
          inject: [RedisService],
          useFactory: (redis: RedisService) => new RateLimiter(redis.client),
        },
        AdminGuard,
        AnonymousSessions,
        ChatRelay,
        ChatService,
        ModelsService,
        ContextWindow,
        ConversationStore,
        StatusService,
      ],
    };
  }
}
