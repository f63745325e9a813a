#!/usr/bin/env node
// Regenerates the README's screenshots from the real-photo demo journey
// (e2e/demo-files.e2e.test.mjs on stamps-dev at 1280x800 and 360x740): trained
// classes, curves, a prediction on a photo and "what it got wrong".
// Needs the shared datasets (../shared/datasets or EDGETUNE_DATA) and a build.
//   node scripts/screenshots.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(root, 'test-results');
const out = join(root, 'demo/screenshots');

// A previous run's shots would be picked up by name: start from none.
if (existsSync(results)) for (const f of readdirSync(results).filter((f) => f.startsWith('files-real-'))) rmSync(join(results, f));
const run = spawnSync(process.execPath, ['--test', '--test-name-pattern=real photos', 'e2e/demo-files.e2e.test.mjs'], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);

const find = (re) => {
  const name = readdirSync(results).find((f) => re.test(f));
  if (!name) {
    console.error(`no ${re} in test-results/: did the real-photo journey run (is the dataset there)?`);
    process.exit(1);
  }
  return join(results, name);
};
const shots = {
  'demo-desktop.png': { from: find(/^files-real-desktop-\d+-evaluate-folder\.png$/), width: 1000 },
  'demo-phone-classes.png': { from: find(/^files-real-mobile-view-classes\.png$/), width: 360 },
  'demo-phone-results.png': { from: find(/^files-real-mobile-view-results\.png$/), width: 360 },
};
mkdirSync(out, { recursive: true });
for (const [name, { from, width }] of Object.entries(shots)) {
  // A 256-colour palette keeps photos recognisable at a fraction of the bytes.
  await sharp(from).resize({ width, withoutEnlargement: true }).png({ palette: true, quality: 85, compressionLevel: 9 }).toFile(join(out, name));
  console.log(`demo/screenshots/${name} <- ${from.slice(root.length + 1)}`);
}
