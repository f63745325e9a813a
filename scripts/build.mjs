#!/usr/bin/env node
// Builds dist/: ESM bundles with esbuild, declarations with tsc.
//   dist/engine/index.js   edgetune/engine (Node and in-thread use)
//   dist/engine/node.js    edgetune/node (sharp decoding, disk cache, model dirs)
//   dist/cli/main.js       the edgetune command
// Dependencies stay external for Node entries: npm installs them beside the package.
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
rmSync('dist', { recursive: true, force: true });

await esbuild.build({
  entryPoints: { 'engine/index': 'src/engine/index.ts', 'engine/node': 'src/engine/node.ts', 'cli/main': 'src/cli/main.ts' },
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

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--emitDeclarationOnly', '-p', 'tsconfig.json'], { stdio: 'inherit' });
console.log('[edgetune] build: dist/ written');
