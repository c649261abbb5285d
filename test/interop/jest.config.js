// The interop suite: ChatTensor against the real Python SDKs, each pinned in
// its own venv by setup-venv.mjs (.venv: bittensor 11.3.0, python/requirements.txt;
// .venv-sdk10: bittensor 10.5.0, python/requirements-sdk10.txt). Run with
// `npm run test:interop`; it needs python3 and PyPI, nothing else.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const rootDir = join(__dirname, '..', '..');
const swcrc = JSON.parse(readFileSync(join(rootDir, '.swcrc'), 'utf8'));
const { paths } = require(join(rootDir, 'tsconfig.base.json')).compilerOptions;

module.exports = {
  rootDir,
  displayName: 'interop',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/interop/**/*.interop-spec.ts'],
  // As in the root config: NestJS ships ES modules only, which Jest's CommonJS runtime needs compiled.
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...swcrc, swcrc: false }],
    '^.+/node_modules/@nestjs/.+\\.js$': ['@swc/jest', { swcrc: false, module: { type: 'commonjs' }, jsc: { target: 'es2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
  moduleNameMapper: Object.fromEntries(Object.entries(paths).map(([name, [target]]) => [`^${name}$`, `<rootDir>/${target}`])),
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  setupFiles: ['<rootDir>/test/setup/reflect.ts'],
  // The network suites (btauth/1 both ways) run a real miner and validator: NATS and Redis as elsewhere.
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  testTimeout: 180_000,
  // Python processes are heavy on a small machine; one suite at a time.
  maxWorkers: 1,
};
