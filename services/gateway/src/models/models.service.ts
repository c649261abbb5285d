import { Inject, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '@chattensor/common';
import { ANY_MODEL, MetagraphWatcher } from '@chattensor/protocol';
import { GATEWAY_CONFIG } from '../config/config.token';
import type { GatewayConfig } from '../config/gateway.config';

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * The models users can ask for: DEFAULT_MODEL (whatever the network serves)
 * plus every model a miner of the metagraph announces.
 */
@Injectable()
export class ModelsService {
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly metagraph: MetagraphWatcher,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  list(): ModelEntry[] {
    const announced = new Set<string>();
    for (const neuron of this.metagraph.current()?.neurons ?? []) if (neuron.model && neuron.role !== 'validator') announced.add(neuron.model);
    announced.delete(this.config.chat.defaultModel);
    return [this.config.chat.defaultModel, ...[...announced].sort()].map((id) => ({ id, object: 'model', created: this.created, owned_by: 'chattensor' }));
  }

  get(id: string): ModelEntry {
    const entry = this.list().find((m) => m.id === id);
    if (!entry) {
      throw new AppError(ErrorCode.NotFound, `The model '${id}' does not exist or you do not have access to it.`, { param: 'model', reason: 'model_not_found' });
    }
    return entry;
  }

  /** The job's model: the alias means any model; an unknown one is a 404 like OpenAI's model_not_found. */
  resolve(id: string): string {
    this.get(id);
    return id === this.config.chat.defaultModel ? ANY_MODEL : id;
  }
}
