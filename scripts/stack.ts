/**
 * `npm start`: the whole ChatTensor stack in standalone mode on this machine,
 * supervised: a process that exits is started again (scripts/stack/supervisor.ts).
 * Variables: PORT (gateway, default 8080), MINERS (default 2), MODEL_DIR (a
 * model folder; generated when absent), MODEL_GGUF (a llama GGUF file to
 * import and serve), MODEL_PRESET (tiny, 100m, 400m: the generated model's
 * size; default tiny), NATS_URL / REDIS_URL (use these instead of local ones),
 * CHEATERS (comma-separated kinds of cheating miners to start beside the
 * honest ones: random, other-model, text-mismatch, cut-short, replay).
 * With neither MODEL_DIR nor MODEL_GGUF it serves SmolLM2-135M-Instruct,
 * fetched into models/ the first time (see model-choice.ts).
 */
import { join } from 'node:path';
import { CHEAT_KINDS, isCheatKind } from './cheating-miner/cheating-miner';
import { chooseModel } from './stack/model-choice';
import { REPO_ROOT, StackError, startStack } from './stack/stack';
import { supervise } from './stack/supervisor';

const COLORS: Record<string, string> = {
  gateway: '36',
  validator: '35',
  'chain-indexer': '33',
  nats: '90',
  redis: '90',
  stack: '32',
};

function printLine(name: string, line: string): void {
  const color = COLORS[name] ?? (name.startsWith('cheater-') ? '31' : '34');
  let text = line;
  try {
    const entry = JSON.parse(line) as {
      level?: string;
      msg?: string;
      context?: string;
      component?: string;
      err?: { message?: string };
    };
    if (entry.msg) {
      if (
        entry.context === 'RouterExplorer' ||
        entry.context === 'RoutesResolver' ||
        entry.context === 'InstanceLoader'
      )
        return;
      text = `${entry.level === 'info' ? '' : `${entry.level?.toUpperCase()} `}${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`;
    }
  } catch {
    // Not JSON (NATS/Redis output): print as is.
  }
  process.stdout.write(`\x1b[${color}m${name.padEnd(13)}\x1b[0m ${text}\n`);
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const miners = Number(process.env.MINERS ?? 2);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new StackError('PORT must be a port number');
  if (!Number.isInteger(miners) || miners < 1 || miners > 16)
    throw new StackError('MINERS must be between 1 and 16');
  const preset = process.env.MODEL_PRESET ?? 'tiny';
  if (preset !== 'tiny' && preset !== '100m' && preset !== '400m')
    throw new StackError('MODEL_PRESET must be tiny, 100m or 400m');
  const cheaters = (process.env.CHEATERS ?? '')
    .split(',')
    .map((kind) => kind.trim())
    .filter(Boolean);
  const unknown = cheaters.filter((kind) => !isCheatKind(kind));
  if (unknown.length > 0)
    throw new StackError(`CHEATERS: unknown kind ${unknown.join(', ')} (kinds: ${CHEAT_KINDS.join(', ')})`);
  const model = await chooseModel(REPO_ROOT, process.env, (line) => printLine('stack', line));
  printLine('stack', `serving ${model.description}`);
  const stack = await startStack({
    stateDir: join(REPO_ROOT, '.cache', 'stack'),
    modelDir: model.dir,
    modelPreset: preset,
    gatewayPort: port,
    miners,
    cheaters: cheaters.filter(isCheatKind),
    natsUrl: process.env.NATS_URL,
    redisUrl: process.env.REDIS_URL,
    onLine: printLine,
  });
  const url = `http://localhost:${port}`;
  process.stdout.write(
    [
      '',
      `  ChatTensor is up: ${url}`,
      `    chat in the browser:  ${url}/`,
      `    network status:       ${url}/status`,
      `    OpenAI API base URL:  ${url}/v1   (model "chattensor"; any API key works while anonymous access is on)`,
      `    model:                ${model.description}`,
      `    validator hotkey:     ${stack.validatorHotkey}`,
      ...stack.cheaters.map(
        (c) =>
          `    CHEATING miner:       ${c.kind} (${c.hotkey}): watch ${url}/status, it should fall to ~0 weight`,
      ),
      '  A service that exits is restarted. Press Ctrl-C to stop everything.',
      '',
    ].join('\n') + '\n',
  );

  const supervisor = supervise(stack, { say: (line) => printLine('stack', line) });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    supervisor.stop();
    process.stdout.write('\nstopping…\n');
    stack
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `\n${error instanceof StackError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
