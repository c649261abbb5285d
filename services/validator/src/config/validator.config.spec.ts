import { ConfigError } from '@chattensor/common';
import { readmeVariables } from '../../../../test/support/config-table';
import { loadValidatorConfig, validatorEnvSchema } from './validator.config';

describe('the validator configuration', () => {
  const valid = { HOTKEY_URI: '//Alice' };

  it('loads with only the required variables set', () => {
    expect(() => loadValidatorConfig(valid)).not.toThrow();
  });

  it('names every invalid variable', () => {
    try {
      loadValidatorConfig({ ...valid, HTTP_PORT: 'eighty', NATS_URL: 'http://nats', LOG_LEVEL: 'loud' });
      throw new Error('accepted an invalid configuration');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual(['HTTP_PORT', 'LOG_LEVEL', 'NATS_URL']);
    }
  });

  it('requires a hotkey', () => {
    expect(() => loadValidatorConfig({ ...valid, HOTKEY_URI: undefined })).toThrow(/HOTKEY_URI/);
  });

  it('documents every variable it reads in the README', () => {
    expect(readmeVariables('validator').sort()).toEqual(Object.keys(validatorEnvSchema.shape).sort());
  });
});
