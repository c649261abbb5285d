import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@chattensor/common';
import { readmeVariables } from '../../../../test/support/config-table';
import { loadMinerConfig, minerEnvSchema } from './miner.config';

describe('the miner configuration', () => {
  const modelDir = mkdtempSync(join(tmpdir(), 'miner-config-'));
  writeFileSync(join(modelDir, 'config.json'), '{}');
  const valid = { MODEL_DIR: modelDir, HOTKEY_URI: '//Alice' };

  it('refuses a MODEL_DIR that is not a model folder', () => {
    expect(() => loadMinerConfig({ ...valid, MODEL_DIR: tmpdir() })).toThrow(/MODEL_DIR/);
  });

  it('takes a GGUF file instead of a model folder, but not both', () => {
    const gguf = join(modelDir, 'model.gguf');
    writeFileSync(gguf, 'GGUF');
    const config = loadMinerConfig({ HOTKEY_URI: '//Alice', MODEL_GGUF: gguf, MODEL_CACHE_DIR: '/var/cache/models' });
    expect(config.model.gguf).toEqual({ path: gguf, cacheDir: '/var/cache/models' });
    expect(() => loadMinerConfig({ ...valid, MODEL_GGUF: gguf })).toThrow(/MODEL_GGUF.*not both/);
    expect(() => loadMinerConfig({ HOTKEY_URI: '//Alice', MODEL_GGUF: join(modelDir, 'missing.gguf') })).toThrow(/MODEL_GGUF.*is not a file/);
    expect(() => loadMinerConfig({ HOTKEY_URI: '//Alice' })).toThrow(/MODEL_DIR.*is required/);
  });

  it('loads with only the required variables set', () => {
    expect(() => loadMinerConfig(valid)).not.toThrow();
  });

  it('names every invalid variable', () => {
    try {
      loadMinerConfig({ ...valid, HTTP_PORT: 'eighty', NATS_URL: 'http://nats', LOG_LEVEL: 'loud' });
      throw new Error('accepted an invalid configuration');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual(['HTTP_PORT', 'LOG_LEVEL', 'NATS_URL']);
    }
  });

  it('refuses a queue of no places, which the engine could not run with', () => {
    expect(() => loadMinerConfig({ ...valid, MAX_QUEUE: '0' })).toThrow(/MAX_QUEUE/);
  });

  it('requires a hotkey', () => {
    expect(() => loadMinerConfig({ ...valid, HOTKEY_URI: undefined })).toThrow(/HOTKEY_URI/);
  });

  it('documents every variable it reads in the README', () => {
    expect(readmeVariables('miner').sort()).toEqual(Object.keys(minerEnvSchema.shape).sort());
  });
});
