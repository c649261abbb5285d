// Regenerates libs/protocol/src/generated from proto/ with buf + ts-proto.
// Generated files are never edited by hand; CI fails if they drift (see test/proto-drift).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buf = join(root, 'node_modules/.bin/buf');
const protoDir = join(root, 'proto');
execFileSync(buf, ['lint'], { cwd: protoDir, stdio: 'inherit' });
rmSync(join(root, 'libs/protocol/src/generated'), { recursive: true, force: true });
execFileSync(buf, ['generate'], { cwd: protoDir, stdio: 'inherit' });
console.log('generated libs/protocol/src/generated');
