// The published package layout: `npm pack`, unpack into a consumer project,
// bundle a page with esbuild (no configuration), copy worker/.wasm/models, run it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { ROOT, runInPage } from './harness.mjs';
import { serve } from '../scripts/serve.mjs';

describe('the packed package in a consumer page', () => {
  let dir;
  let server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetune-pack-'));
    // dist/ is already built by the test runner; pack it as npm would publish it.
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    const pkg = join(dir, 'app', 'node_modules', 'edgetune');
    mkdirSync(pkg, { recursive: true });
    execFileSync('tar', ['xzf', join(dir, tarball), '-C', pkg, '--strip-components=1']);
    const pub = join(dir, 'app', 'public');
    mkdirSync(join(pub, 'edgetune'), { recursive: true });
    await esbuild.build({
      entryPoints: [join(ROOT, 'e2e/page/package-app.mjs')],
      outfile: join(pub, 'app.js'),
      bundle: true,
      format: 'esm',
      nodePaths: [join(dir, 'app', 'node_modules')],
      logLevel: 'warning',
    });
    for (const p of ['worker.js', 'worker-chunks', 'wasm']) cpSync(join(pkg, 'dist', p), join(pub, 'edgetune', p), { recursive: true });
    cpSync(join(pkg, 'models'), join(pub, 'edgetune', 'models'), { recursive: true });
    writeFileSync(join(pub, 'index.html'), '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>app</title></head><body><script type="module" src="/app.js"></script></body></html>');
    server = await serve(pub);
  });
  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs no native library for browser apps: sharp and onnxruntime-node are optional peers, CLI-only types are dev-only', async () => {
    const pkg = JSON.parse(execFileSync('tar', ['xzOf', join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))), 'package/package.json'], { encoding: 'utf8' }));
    assert.equal(pkg.dependencies.sharp, undefined);
    assert.equal(pkg.dependencies['@types/cli-progress'], undefined);
    assert.ok(pkg.peerDependencies.sharp);
    assert.deepEqual(pkg.peerDependenciesMeta.sharp, { optional: true });
    assert.equal(pkg.dependencies['onnxruntime-node'], undefined);
    assert.deepEqual(pkg.peerDependenciesMeta['onnxruntime-node'], { optional: true });
  });

  it('passes publint --strict and arethetypeswrong (esm-only): every entry with code has types', () => {
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz')));
    const lint = execFileSync(join(ROOT, 'node_modules/.bin/publint'), ['--strict', tarball], { encoding: 'utf8' });
    assert.match(lint, /All good!/, lint);
    const attw = spawnSync(join(ROOT, 'node_modules/.bin/attw'), ['--profile', 'esm-only', '--format', 'json', tarball], { encoding: 'utf8' });
    // The esm-only profile ignores node10 and CommonJS require: edgetune is ESM only.
    const problems = JSON.parse(attw.stdout).analysis.problems.filter((p) => !['node10', 'node16-cjs'].includes(p.resolutionKind));
    assert.deepEqual(problems, []);
    assert.equal(attw.status, 0, attw.stdout.slice(0, 2000));
  });

  for (const [resolution, module] of [['bundler', 'esnext'], ['node16', 'node16']]) {
    it(`a consumer TypeScript project (moduleResolution ${resolution}) type-checks edgetune, edgetune/engine and edgetune/node`, () => {
      // Inside the repository, so that edgetune's own dependencies' types resolve as an install would place them.
      // skipLibCheck as in Vite's and Next's templates: tfjs' own declarations do not pass a full check.
      const app = join(ROOT, '.cache', 'apps', `types-${resolution}`);
      rmSync(app, { recursive: true, force: true });
      const pkg = join(app, 'node_modules', 'edgetune');
      mkdirSync(pkg, { recursive: true });
      execFileSync('tar', ['xzf', join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))), '-C', pkg, '--strip-components=1']);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      const compilerOptions = { module, moduleResolution: resolution, target: 'es2022', lib: ['es2023', 'dom'], types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], strict: true, noEmit: true, skipLibCheck: true };
      writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
      cpSync(join(ROOT, 'e2e/page/consumer.ts'), join(app, 'consumer.ts'));
      const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' });
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    });
  }

  it('[wasm] trains and predicts from a page built against the tarball', async () => {
    const { result, urls } = await runInPage(server.url, 'wasm', '/index.html', 'runApp', {});
    assert.deepEqual(result, { backend: 'wasm', labels: ['red', 'blue'], red: 'red', blue: 'blue' });
    const paths = urls.filter((u) => u.startsWith('http')).map((u) => new URL(u).pathname);
    assert.ok(paths.every((p) => ['/index.html', '/app.js', '/favicon.ico'].includes(p) || p.startsWith('/edgetune/')), paths.join(', '));
  });
});
