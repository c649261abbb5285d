// Deploy checks run apart from the unit/integration/e2e projects: they need
// helm and the tools that scripts/deploy-checks.sh installs.
const root = require('../../jest.config.js');

const unit = root.projects.find((project) => project.displayName === 'unit');

module.exports = {
  ...unit,
  displayName: 'deploy',
  testMatch: ['<rootDir>/test/deploy/**/*.spec.ts'],
  // The env contract test loads the services' config modules, which reach
  // NestJS 12 through libs/common; Nest ships ES modules only, which Jest's
  // CommonJS runtime on Node 20 cannot require, so swc compiles them too.
  transform: {
    ...unit.transform,
    '^.+\\.js$': ['@swc/jest', { module: { type: 'commonjs' }, jsc: { target: 'es2022' } }],
  },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|uid|file-type|strtok3|token-types|peek-readable|@tokenizer)/)',
  ],
};
