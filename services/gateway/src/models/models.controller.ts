import { Controller, Get, Param } from '@nestjs/common';
import { Authenticated } from '../auth/authenticated.decorator';
import { ModelsService, type ModelEntry } from './models.service';

@Controller('v1/models')
@Authenticated()
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  list(): { object: 'list'; data: ModelEntry[] } {
    return { object: 'list', data: this.models.list() };
  }

  @Get(':id')
  get(@Param('id') id: string): ModelEntry {
    return this.models.get(id);
  }
}
