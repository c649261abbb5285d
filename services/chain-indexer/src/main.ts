import { bootstrapService, loadConfigOrExit, runMain } from '@chattensor/common';
import { ChainIndexerModule } from './app.module';
import { loadChainIndexerConfig } from './config/chain-indexer.config';

async function main(): Promise<void> {
  const config = loadConfigOrExit(() => loadChainIndexerConfig(), 'chain-indexer');
  await bootstrapService({
    service: 'chain-indexer',
    module: ChainIndexerModule.forRoot(config),
    host: config.http.host,
    port: config.http.port,
  });
}

runMain('chain-indexer', main);
