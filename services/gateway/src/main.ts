import { bootstrapService, runMain } from '@chattensor/common';
import { GatewayModule } from './app.module';
import { loadGatewayConfig } from './config/gateway.config';
import { edgeServerOptions, installEdgeHooks } from './http/http-edge';

runMain('gateway', async () => {
  const config = loadGatewayConfig();
  await bootstrapService({
    service: 'gateway',
    module: GatewayModule.forRoot(config),
    host: config.http.host,
    port: config.http.port,
    bodyLimit: config.http.maxBodyBytes,
    serverOptions: edgeServerOptions(),
    configure: (app) => void installEdgeHooks(app.getHttpAdapter().getInstance()),
  });
});
