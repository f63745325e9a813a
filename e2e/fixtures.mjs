// Image folders for the e2e suites, laid out as ImageFolder train/val/test with
// three classes plus a few spare images: real photos copied from the shared
// datasets at test time (EDGETUNE_DATA or ../shared/datasets), or generated.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { ROOT } from './harness.mjs';

const SPLITS = ['train', 'val', 'test'];

function describeFolder(kind, name, root, classes, spare) {
  const count = (s, l) => readdirSync(join(root, s, l)).length;
  const per = (s) => Object.fromEntries(classes.map((l) => [l, count(s, l)]));
  const total = (s) => classes.reduce((n, l) => n + count(s, l), 0);
  return {
    kind, name, root, classes, spare,
    counts: { train: per('train'), val: per('val'), trainTotal: total('train'), valTotal: total('val'), testTotal: total('test') },
  };
}

const REAL = { dataset: 'stamps-dev', classes: ['birds', 'fruit', 'vehicles'], spare: ['household', 4] };

/** Where the shared datasets are, or why the real-photo tests skip. */
function dataRoot() {
  const root = resolve(process.env.EDGETUNE_DATA ?? join(ROOT, '..', 'shared', 'datasets'));
  const dataset = join(root, REAL.dataset);
  return existsSync(dataset) ? { dataset } : { skip: `no ${REAL.dataset} under ${root} (set EDGETUNE_DATA to the folder holding the shared datasets)` };
}

/** Real photos: three stamps-dev classes, copied to a temp folder (the shared copy is never written). */
export function realImageFolder() {
  const { dataset, skip } = dataRoot();
  if (skip) return { skip };
  const root = mkdtempSync(join(tmpdir(), 'edgetune-real-'));
  for (const s of SPLITS) for (const l of REAL.classes) cpSync(join(dataset, s, l), join(root, s, l), { recursive: true });
  const [spareClass, n] = REAL.spare;
  const spare = join(root, 'spare');
  mkdirSync(spare);
  for (const f of readdirSync(join(dataset, 'train', spareClass)).sort().slice(0, n)) cpSync(join(dataset, 'train', spareClass, f), join(spare, f));
  return describeFolder('real', REAL.dataset, root, REAL.classes, spare);
}
realImageFolder.available = () => {
  const { skip } = dataRoot();
  return skip ? { skip } : { name: REAL.dataset };
};

/** A seeded pseudo-random generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One 96x96 RGB picture of a class: a red disc, blue stripes or a green checkerboard, jittered. */
function picture(kind, seed, size = 96) {
  const r = rng(seed);
  const data = Buffer.alloc(size * size * 3);
  const cx = size * (0.35 + 0.3 * r());
  const cy = size * (0.35 + 0.3 * r());
  const period = 8 + Math.floor(r() * 8);
  const shade = 40 * (r() - 0.5);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on =
        kind === 'disc' ? (x - cx) ** 2 + (y - cy) ** 2 < (size * 0.28) ** 2
        : kind === 'stripes' ? Math.floor(y / period) % 2 === 0
        : (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0;
      const fg = kind === 'disc' ? [210, 40, 40] : kind === 'stripes' ? [40, 60, 200] : [40, 160, 60];
      const px = on ? fg : [235, 235, 225];
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, px[c] + shade + 20 * (r() - 0.5)));
    }
  }
  return sharp(data, { raw: { width: size, height: size, channels: 3 } });
}

/** Generated pictures in the same layout: 8 train, 2 val, 3 test per class (and one mislabelled test image), JPEG and PNG mixed. */
export async function generatedImageFolder() {
  const classes = ['disc', 'stripes', 'checker'];
  const root = mkdtempSync(join(tmpdir(), 'edgetune-generated-'));
  const counts = { train: 8, val: 2, test: 3 };
  let seed = 1;
  for (const s of SPLITS) {
    for (const l of classes) {
      mkdirSync(join(root, s, l), { recursive: true });
      for (let i = 0; i < counts[s]; i++) {
        const img = picture(l, seed++);
        await (i % 2 ? img.png().toFile(join(root, s, l, `${i}.png`)) : img.jpeg({ quality: 90 }).toFile(join(root, s, l, `${i}.jpg`)));
      }
    }
  }
  // One deliberate labelling mistake: stripes filed as a disc. Every model gets it "wrong", so the
  // views of mistakes (report.html, the demo's evaluation) always have one to show.
  await picture('stripes', 999).png().toFile(join(root, 'test', 'disc', 'mislabelled-stripes.png'));
  const spare = join(root, 'spare');
  mkdirSync(spare);
  for (let i = 0; i < 4; i++) await picture(['disc', 'stripes', 'checker'][i % 3], 1000 + i).jpeg().toFile(join(spare, `${i}.jpg`));
  return describeFolder('generated', 'generated', root, classes, spare);
}

/** A 224x224 RGB picture (the backbones' input size, so an export's resize is the identity): a disc, stripes or a checkerboard in a class colour. */
export function picture224(kind, seed) {
  const SIZE = 224;
  const data = new Uint8Array(SIZE * SIZE * 3);
  const period = 10 + (seed % 7);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const on = kind === 0 ? (x - 112 - seed) ** 2 + (y - 100) ** 2 < 60 ** 2 : kind === 1 ? Math.floor(y / period) % 2 === 0 : (Math.floor(x / period) + Math.floor(y / period)) % 2 === 0;
      const fg = [[210, 40, 40], [40, 60, 200], [40, 160, 60]][kind];
      for (let c = 0; c < 3; c++) data[(y * SIZE + x) * 3 + c] = on ? fg[c] : 230 - ((x * 7 + y * 3 + seed * 11) % 25);
    }
  return { data, width: SIZE, height: SIZE, channels: 3 };
}
