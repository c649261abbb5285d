import { bootstrapService, runMain } from '@chattensor/common';
import { MinerModule } from './app.module';
import { loadMinerConfig } from './config/miner.config';
import { MinerIdentity } from './identity/miner-identity';

runMain('miner', async () => {
  const config = loadMinerConfig();
  const identity = await MinerIdentity.load(config.hotkey);
  await bootstrapService({
    service: 'miner',
    module: MinerModule.forRoot(config, identity),
    host: config.http.host,
    port: config.http.port,
  });
});
