import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/stack/stack';
import { startGatewayStack, type GatewayTestStack } from '../gateway/gateway-stack';

const SCHEMATHESIS = join(REPO_ROOT, '.venv-schemathesis', 'bin', 'schemathesis');
/** Time budget of the fuzzer itself; the stack's start comes on top. */
const FUZZ_SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);

/**
 * schemathesis (pinned) against /openapi.json of a running stack (gateway,
 * validator, a miner, chain-indexer): every operation, documented and
 * undocumented inputs, SSE events included, bounded in time. Any server error
 * (5xx other than the documented 503) or any response that does not match the
 * document (status, content type, headers, body schema, a 405 without Allow,
 * invalid data accepted) fails the run.
 */
describe('the API under schemathesis', () => {
  let env: GatewayTestStack;
  const reports = mkdtempSync(join(tmpdir(), 'chattensor-fuzz-'));

  beforeAll(async () => {
    if (!existsSync(SCHEMATHESIS))
      throw new Error(`${SCHEMATHESIS} is missing: run node test/interop/setup-venv.mjs .venv-schemathesis`);
    env = await startGatewayStack({
      miners: 1,
      redisDb: 12,
      greedy: true,
      env: {
        // The fuzzer is one client sending thousands of requests a minute: the limits are not under test here.
        ANONYMOUS_REQUESTS_PER_MINUTE: '1000000',
        ANONYMOUS_TOKENS_PER_MINUTE: '1000000000',
        // Short answers keep the time on the API, not on generation.
        MAX_TOKENS_LIMIT: '32',
        DEFAULT_MAX_TOKENS: '8',
      },
    });
  }, 180_000);

  afterAll(async () => {
    await env?.stop();
    rmSync(reports, { recursive: true, force: true });
  });

  it('finds no server error and no response that departs from the document', async () => {
    const args = [
      'run',
      `${env.stack.gatewayUrl}/openapi.json`,
      '--checks',
      [
        'not_a_server_error',
        'status_code_conformance',
        'content_type_conformance',
        'response_headers_conformance',
        'response_schema_conformance',
        'negative_data_rejection',
        'unsupported_method',
        'allow_header_conformance',
      ].join(','),
      '--max-time',
      String(FUZZ_SECONDS),
      '--workers',
      '2',
      '--request-timeout',
      '30',
      '--seed',
      '1',
      '--report',
      'junit',
      '--report-junit-path',
      join(reports, 'junit.xml'),
      '--output-truncate',
      'false',
    ];
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(SCHEMATHESIS, args, {
        cwd: reports,
        env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' },
      });
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      // A bound of its own: the fuzzer's budget, plus time to finish and report.
      const timer = setTimeout(() => child.kill('SIGKILL'), (FUZZ_SECONDS + 90) * 1000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    const text = output.join('');
    if (code !== 0) process.stderr.write(`${text.slice(-20_000)}\n`);
    expect(code).toBe(0);
    // The run did test every operation, with many cases (a run that tested nothing would pass trivially).
    expect(text).toMatch(/Tested: 11\b/);
    const generated = Number(/(\d+) generated/.exec(text)?.[1] ?? 0);
    expect(generated).toBeGreaterThan(200);
    const junit = readFileSync(join(reports, 'junit.xml'), 'utf8');
    expect(junit).not.toMatch(/<failure|<error/);
  });
});
