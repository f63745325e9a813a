#!/usr/bin/env node
// Builds dist/: ESM bundles with esbuild, declarations with tsc.
//   dist/engine/index.js   edgetune/engine (Node and in-thread use)
//   dist/engine/node.js    edgetune/node (sharp decoding, disk cache, model dirs)
//   dist/cli/main.js       the edgetune command
//   dist/index.js          edgetune (browser main thread: Comlink + our code, no tfjs)
//   dist/worker.js         edgetune/worker (the worker; backends in lazy chunks)
//   dist/wasm/*.wasm       tfjs WASM binaries, served from the package, never a CDN
// Dependencies stay external for Node entries: npm installs them beside the package.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
rmSync('dist', { recursive: true, force: true });

await esbuild.build({
  entryPoints: { 'engine/index': 'src/engine/index.ts', 'engine/node': 'src/node/index.ts', 'cli/main': 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  // Chunks two levels deep, like the entries, so import.meta.url-relative ../../models resolves.
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
chmodSync('dist/cli/main.js', 0o755);

const browser = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  // fetch.ts reads file: URLs with node:fs in Node only; browsers never reach that import.
  external: ['node:*'],
  logLevel: 'warning',
};
await esbuild.build({ ...browser, entryPoints: { index: 'src/index.ts' }, outdir: 'dist' });
/**
 * tfjs-backend-wasm starts its threads from the threaded factory's source text
 * (`factory.toString()` into a Blob). An app's bundler minifies dist/worker.js
 * again, and the minified function refers to names outside itself: the thread
 * workers die with a ReferenceError. The factory keeps its original text here.
 */
const THREADED_FACTORY = /tfjs-backend-wasm[\\/]wasm-out[\\/]tfjs-backend-wasm-threaded-simd\.js$/;
const keepThreadedFactorySource = {
  name: 'keep-threaded-factory-source',
  setup(build) {
    build.onLoad({ filter: THREADED_FACTORY }, async ({ path }) => {
      const text = readFileSync(path, 'utf8');
      const [open, close] = ['return (\n', '\n);\n})();'];
      const start = text.indexOf(open) + open.length;
      const end = text.lastIndexOf(close);
      if (start < open.length || end < start) throw new Error(`${path}: the factory's layout changed; update keepThreadedFactorySource`);
      const source = JSON.stringify(text.slice(start, end));
      return { contents: `${text}\n;(function (src) { WasmBackendModuleThreadedSimd.toString = function () { return src; }; })(${source});\n`, loader: 'js' };
    });
  },
};

await esbuild.build({
  ...browser,
  plugins: [keepThreadedFactorySource],
  entryPoints: { worker: 'src/worker/entry.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'worker-chunks/[name]-[hash]',
});
// App bundlers find the worker and its files only through literals in the entry files themselves.
const literals = { 'dist/index.js': ["new Worker(new URL(\"./worker.js\", import.meta.url)"], 'dist/worker.js': ['new URL("./wasm/', 'new URL("../models/'] };
for (const [file, needles] of Object.entries(literals)) {
  const text = readFileSync(file, 'utf8');
  for (const n of needles) if (!text.includes(n)) throw new Error(`${file} lost its bundler-visible reference ${n}...; keep it in the entry module`);
}
mkdirSync('dist/wasm', { recursive: true });
const wasmDir = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmDir, f), join('dist/wasm', f));

// Size budget of the main-thread entry: no tfjs, at most 15 KB min+gzip.
const MAIN_BUDGET = 15 * 1024;
const main = await esbuild.build({ ...browser, entryPoints: ['src/index.ts'], write: false, minify: true, metafile: true, sourcemap: false });
const tfInputs = Object.keys(main.metafile.inputs).filter((p) => p.includes('@tensorflow'));
const gz = gzipSync(main.outputFiles[0].contents).length;
if (tfInputs.length) throw new Error(`main entry bundles tfjs modules: ${tfInputs.slice(0, 3).join(', ')}`);
if (gz > MAIN_BUDGET) throw new Error(`main entry is ${gz} bytes min+gzip, over the ${MAIN_BUDGET} budget`);
console.log(`[edgetune] main entry: ${main.outputFiles[0].contents.length} bytes min, ${gz} bytes min+gzip (budget ${MAIN_BUDGET})`);

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--emitDeclarationOnly', '-p', 'tsconfig.json'], { stdio: 'inherit' });
console.log('[edgetune] build: dist/ written');
