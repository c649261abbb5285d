import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { NatsModule, OpsModule, RedisModule } from '@chattensor/common';
import { MetagraphModule } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from './config/config.token';
import type { GatewayConfig } from './config/gateway.config';
import { OpenAIExceptionFilter } from './errors/openai-exception.filter';
import { ChatController } from './chat/chat.controller';
import { ChatRelay } from './chat/chat-relay.service';
import { ChatService } from './chat/chat.service';
import { ModelsController } from './models/models.controller';
import { ModelsService } from './models/models.service';
import { ConversationsController } from './conversations/conversations.controller';
import { ConversationStore } from './conversations/conversation.store';
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
        RedisModule.forRoot({ url: config.redisUrl, name: 'gateway' }),
        MetagraphModule.forRoot(config.netuid),
      ],
      controllers: [ChatController, ModelsController, ConversationsController, StatusController, WebController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
        ChatRelay,
        ChatService,
        ModelsService,
        ConversationStore,
        StatusService,
      ],
    };
  }
}
