// Three projects, one style: unit tests next to the code (*.spec.ts), integration
// tests against real NATS/Redis/gRPC (*.integration-spec.ts), and cross-service
// end-to-end flows in test/ (*.e2e-spec.ts) that run the built services as
// processes.
const { readFileSync } = require('node:fs');

const swcrc = JSON.parse(readFileSync(`${__dirname}/.swcrc`, 'utf8'));
const { paths } = require('./tsconfig.base.json').compilerOptions;

const moduleNameMapper = Object.fromEntries(
  Object.entries(paths).map(([name, [target]]) => [`^${name}$`, `<rootDir>/${target}`]),
);

const base = {
  rootDir: __dirname,
  // Node, plus what onnxruntime-node needs inside Jest (shared typed-array
  // constructors, a once-only native initialisation); see the file.
  testEnvironment: '<rootDir>/libs/inference/test/onnxruntime-environment.js',
  // NestJS 12 ships ES modules only; Jest's CommonJS runtime needs them compiled
  // (Node itself loads them with require(esm), which Jest's runtime does not emulate).
  transform: {
    '^.+\\.ts$': ['@swc/jest', { ...swcrc, swcrc: false }],
    '^.+/node_modules/@nestjs/.+\\.js$': ['@swc/jest', { swcrc: false, module: { type: 'commonjs' }, jsc: { target: 'es2022' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
  moduleNameMapper,
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  setupFiles: ['<rootDir>/test/setup/reflect.ts'],
};

module.exports = {
  // Integration and end-to-end tests start real servers and load models on a small machine.
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{libs,services}/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/{libs,services}/**/*.integration-spec.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
  ],
};
