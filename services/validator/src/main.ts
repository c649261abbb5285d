import { bootstrapService, runMain } from '@chattensor/common';
import { ValidatorModule } from './app.module';
import { loadValidatorConfig } from './config/validator.config';
import { ValidatorIdentity } from './identity/validator-identity';

runMain('validator', async () => {
  const config = loadValidatorConfig();
  const identity = await ValidatorIdentity.load(config.hotkey);
  await bootstrapService({
    service: 'validator',
    module: ValidatorModule.forRoot(config, identity),
    host: config.http.host,
    port: config.http.port,
  });
});
