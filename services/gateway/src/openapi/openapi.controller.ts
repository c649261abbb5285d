import { Controller, Get, Header } from '@nestjs/common';
import { ChatService } from '../chat/chat.service';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.document';

@Controller()
export class OpenApiController {
  private readonly generated: OpenApiDocument;

  constructor(chat: ChatService) {
    // Generated once from the schemas this gateway validates with (MAX_TOKENS_LIMIT included).
    this.generated = buildOpenApiDocument(chat.schemas);
  }

  @Get('openapi.json')
  @Header('Cache-Control', 'public, max-age=300')
  document() {
    return this.generated;
  }
}
