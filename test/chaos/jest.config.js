// The chaos suite: the standalone stack as real processes on loopback, with
// its own NATS and Redis on free ports, while miners, validators, NATS, Redis
// and the chain-indexer are killed and restarted under it. Run with
// `npm run test:chaos` (after `npm run build`); part of `npm test`.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const rootDir = join(__dirname, '..', '..');
const swcrc = JSON.parse(readFileSync(join(rootDir, '.swcrc'), 'utf8'));
const { paths } = require(join(rootDir, 'tsconfig.base.json')).compilerOptions;

module.exports = {
  rootDir,
  displayName: 'chaos',
  testEnvironment: '<rootDir>/libs/inference/test/onnxruntime-environment.js',
  testMatch: ['<rootDir>/test/chaos/**/*.chaos-spec.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...swcrc, swcrc: false }],
    '^.+/node_modules/@nestjs/.+\\.js$': ['@swc/jest', { swcrc: false, module: { type: 'commonjs' }, jsc: { target: 'es2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
  moduleNameMapper: Object.fromEntries(Object.entries(paths).map(([name, [target]]) => [`^${name}$`, `<rootDir>/${target}`])),
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  setupFiles: ['<rootDir>/test/setup/reflect.ts'],
  testTimeout: 120_000,
  // One stack at a time: it is the whole cluster on a small machine.
  maxWorkers: 1,
};
