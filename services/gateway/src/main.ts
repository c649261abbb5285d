import { bootstrapService, runMain } from '@chattensor/common';
import { GatewayModule } from './app.module';
import { loadGatewayConfig } from './config/gateway.config';

runMain('gateway', async () => {
  const config = loadGatewayConfig();
  await bootstrapService({
    service: 'gateway',
    module: GatewayModule.forRoot(config),
    host: config.http.host,
    port: config.http.port,
    bodyLimit: config.http.maxBodyBytes,
  });
});
