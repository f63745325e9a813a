// Bundles a bench page (bench/page/<name>.ts) into bench/.build/<name>.js; the
// pages import the shipped SDK by URL (/dist/index.js), not a rebundled copy.
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ROOT } from '../../e2e/harness.mjs';

export async function buildBenchPage(name) {
  await esbuild.build({
    entryPoints: { [name]: join(ROOT, `bench/page/${name}.ts`) },
    outdir: join(ROOT, 'bench/.build'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: ['node:*', 'sharp', '/dist/index.js'],
    logLevel: 'warning',
  });
}
