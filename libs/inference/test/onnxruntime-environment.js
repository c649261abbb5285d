// A Jest environment for test files that run onnxruntime-node.
//
// 1. Jest gives each test file its own VM context with its own typed-array
//    constructors, while onnxruntime-node's native binding hands back data
//    allocated in the process's realm; onnxruntime-common's instanceof checks
//    then reject it. The test context gets the process's constructors.
// 2. Jest re-evaluates onnxruntime-node's JavaScript for every test file, but
//    the native addon is loaded once per process, and its initOrtOnce() aborts
//    the whole process when called a second time. The binding is initialised
//    here once, and later calls become no-ops.
//
// Use it with a `@jest-environment ./libs/inference/test/onnxruntime-environment.js` docblock.
const { dirname, join } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  // Node.js 24: onnxruntime hands float16 data back as Float16Array.
  'Float16Array',
];

function initialiseOnnxruntimeOnce() {
  const root = dirname(require.resolve('onnxruntime-node/package.json'));
  const binding = require(join(root, 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node'));
  if (binding.initOrtOnce.chattensorGuarded) return;
  require('onnxruntime-node/dist/binding').initOrt();
  const guarded = () => undefined;
  guarded.chattensorGuarded = true;
  binding.initOrtOnce = guarded;
}

class OnnxruntimeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) if (globalThis[name]) this.global[name] = globalThis[name];
    initialiseOnnxruntimeOnce();
  }
}

module.exports = OnnxruntimeEnvironment;
