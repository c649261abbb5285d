import { bootstrapService, runMain } from '@chattensor/common';
import { ChainIndexerModule } from './app.module';
import { loadChainIndexerConfig } from './config/chain-indexer.config';

async function main(): Promise<void> {
  const config = loadChainIndexerConfig();
  await bootstrapService({
    service: 'chain-indexer',
    module: ChainIndexerModule.forRoot(config),
    host: config.http.host,
    port: config.http.port,
  });
}

runMain('chain-indexer', main);
