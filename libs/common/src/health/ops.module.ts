import { Global, Module } from '@nestjs/common';
import { OpsController } from './ops.controller';
import { ReadinessRegistry } from './readiness.registry';

@Global()
@Module({
  controllers: [OpsController],
  providers: [ReadinessRegistry],
  exports: [ReadinessRegistry],
})
export class OpsModule {}
