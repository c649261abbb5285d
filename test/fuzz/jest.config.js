// The API fuzzing suite: schemathesis (pinned in test/fuzz/
// requirements.txt, installed into .venv-schemathesis by test/interop/setup-venv.mjs)
// against /openapi.json of a running stack. Run with `npm run test:fuzz`.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const rootDir = join(__dirname, '..', '..');
const swcrc = JSON.parse(readFileSync(join(rootDir, '.swcrc'), 'utf8'));
const { paths } = require(join(rootDir, 'tsconfig.base.json')).compilerOptions;

module.exports = {
  rootDir,
  displayName: 'fuzz',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/fuzz/**/*.fuzz-spec.ts'],
  // As in the root config: NestJS ships ES modules only, which Jest's CommonJS runtime needs compiled.
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...swcrc, swcrc: false }],
    '^.+/node_modules/@nestjs/.+\\.js$': [
      '@swc/jest',
      { swcrc: false, module: { type: 'commonjs' }, jsc: { target: 'es2022' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
  moduleNameMapper: Object.fromEntries(
    Object.entries(paths).map(([name, [target]]) => [`^${name}$`, `<rootDir>/${target}`]),
  ),
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  setupFiles: ['<rootDir>/test/setup/reflect.ts'],
  // NATS and Redis as for the end-to-end suites (NATS_URL / REDIS_URL, else local servers on free ports).
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  testTimeout: 300_000,
  // One stack and one fuzzer at a time.
  maxWorkers: 1,
};
