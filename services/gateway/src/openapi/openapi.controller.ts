import { Controller, Get, Header } from '@nestjs/common';
import { openApiDocument } from './openapi.document';

@Controller()
export class OpenApiController {
  @Get('openapi.json')
  @Header('Cache-Control', 'public, max-age=300')
  document() {
    return openApiDocument;
  }
}
