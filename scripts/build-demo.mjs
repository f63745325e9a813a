#!/usr/bin/env node
// Builds the demo PWA into demo/dist from the package's public build output:
//   app.js (the demo, bundling the `edgetune` main entry), sw.js (precache list
//   and version injected), sdk/worker.js + chunks + wasm, models/<default>/,
//   the shell (index.html, styles.css, manifest, icons rendered from icon.svg).
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import sharp from 'sharp';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'demo/dist');
const BACKBONE = 'mobilenet_v2_140';

export async function buildDemo({ quiet = false } = {}) {
  if (!existsSync(join(root, 'dist/index.js')) || !existsSync(join(root, 'dist/worker.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm ci runs it) first');
  }
  if (!existsSync(join(root, `models/${BACKBONE}/model.json`))) throw new Error(`models/${BACKBONE} is not converted: run npm ci`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'icons'), { recursive: true });

  const common = { outdir: out, bundle: true, platform: 'browser', target: 'es2022', minify: true, logLevel: 'warning' };
  await esbuild.build({
    ...common,
    entryPoints: { app: join(root, 'demo/src/main.ts') },
    format: 'esm',
    sourcemap: true,
    // What a host's bundler does with `import … from 'edgetune'`: the package's main entry.
    alias: { edgetune: join(root, 'dist/index.js') },
  });
  for (const f of ['index.html', 'styles.css', 'manifest.webmanifest']) cpSync(join(root, 'demo', f), join(out, f));
  const svg = readFileSync(join(root, 'demo/icon.svg'));
  for (const size of [192, 512]) await sharp(svg).resize(size, size).png().toFile(join(out, `icons/icon-${size}.png`));
  // Maskable: the artwork inside the 80% safe zone, on the theme colour.
  await sharp({ create: { width: 512, height: 512, channels: 4, background: '#1b4d3e' } })
    .composite([{ input: await sharp(svg).resize(410, 410).png().toBuffer(), gravity: 'center' }])
    .png()
    .toFile(join(out, 'icons/icon-maskable-512.png'));

  // The SDK as a host ships it: the worker, its chunks and the .wasm files, plus the default backbone.
  mkdirSync(join(out, 'sdk'), { recursive: true });
  cpSync(join(root, 'dist/worker.js'), join(out, 'sdk/worker.js'));
  cpSync(join(root, 'dist/worker-chunks'), join(out, 'sdk/worker-chunks'), { recursive: true, filter: (p) => !p.endsWith('.map') });
  cpSync(join(root, 'dist/wasm'), join(out, 'sdk/wasm'), { recursive: true });
  const modelDir = join(root, 'models', BACKBONE);
  mkdirSync(join(out, 'models', BACKBONE), { recursive: true });
  for (const f of readdirSync(modelDir).filter((f) => f.endsWith('.json') || f.endsWith('.bin'))) cpSync(join(modelDir, f), join(out, 'models', BACKBONE, f));

  const files = walk(out).filter((f) => !f.endsWith('.map'));
  const hash = createHash('sha256');
  // Relative paths in the hash: the version depends on the content, not on where the checkout lives.
  for (const f of files) hash.update(relative(out, f)).update(readFileSync(f));
  const version = hash.digest('hex').slice(0, 12);
  // The shell is precached as './' (what navigations ask for), every other file by its path.
  const precache = ['./', ...files.map((f) => `./${relative(out, f)}`).filter((p) => p !== './index.html')];
  await esbuild.build({
    ...common,
    entryPoints: { sw: join(root, 'demo/src/sw.ts') },
    format: 'iife',
    define: { __PRECACHE__: JSON.stringify(precache), __VERSION__: JSON.stringify(version) },
  });
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  if (!quiet) console.log(`[edgetune] demo built in demo/dist: ${files.length} files precached (${(bytes / 1e6).toFixed(1)} MB), version ${version}`);
  return { out, version, precache };
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildDemo();
