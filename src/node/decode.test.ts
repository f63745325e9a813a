// Node decoding of awkward and broken files: each is decoded correctly or refused with INVALID_IMAGE.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImage, DECODE_MAX_SIDE } from './decode.js';
import { isEdgetuneError } from '../errors.js';

const solid = (w: number, h: number, channels: 1 | 3 | 4, value: number[]) =>
  sharp(Buffer.alloc(w * h * channels, 0).map((_, i) => value[i % channels]!), { raw: { width: w, height: h, channels } });

/** A noisy photo-like image: its JPEG has real entropy-coded data to cut short. */
const noise = (w: number, h: number) => sharp(Buffer.alloc(w * h * 3).map((_, i) => (i * 2654435761) % 251), { raw: { width: w, height: h, channels: 3 } });

describe('decodeImage (sharp)', () => {
  for (const [what, bytes, pattern] of [
    ['a zero-byte file', async () => new Uint8Array(0), /empty file/],
    ['a text file named .jpg', async () => new TextEncoder().encode('hello, not an image'), /cannot decode|unsupported/],
    ['an SVG', async () => new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'), /unsupported format 'svg'/],
    ['a truncated JPEG', async () => { const b = await noise(64, 64).jpeg().toBuffer(); return b.subarray(0, b.length >> 1); }, /cannot decode/],
    ['a truncated PNG', async () => { const b = await noise(64, 64).png().toBuffer(); return b.subarray(0, b.length >> 1); }, /cannot decode/],
  ] as const) {
    it(`refuses ${what} with INVALID_IMAGE naming the file`, async () => {
      await assert.rejects(decodeImage(await bytes(), 'x/bad.jpg'), (e) => isEdgetuneError(e, 'INVALID_IMAGE') && e.message.startsWith('x/bad.jpg') && pattern.test(e.message));
    });
  }

  it('decodes a 1x1 image', async () => {
    const img = await decodeImage(await solid(1, 1, 3, [1, 2, 3]).png().toBuffer());
    assert.deepEqual([img.width, img.height, img.channels, ...img.data], [1, 1, 3, 1, 2, 3]);
  });

  it('expands grayscale to RGB', async () => {
    const img = await decodeImage(await solid(8, 8, 1, [77]).png().toBuffer());
    assert.equal(img.channels, 3);
    assert.deepEqual([...img.data.subarray(0, 3)], [77, 77, 77]);
  });

  it('flattens transparency onto white', async () => {
    const img = await decodeImage(await solid(8, 8, 4, [255, 0, 0, 0]).png().toBuffer());
    assert.deepEqual([...img.data.subarray(0, 3)], [255, 255, 255]);
  });

  it('reads 16-bit PNGs as 8-bit RGB', async () => {
    const png16 = await solid(8, 8, 3, [100, 150, 200]).toColourspace('rgb16').png().toBuffer();
    const img = await decodeImage(png16);
    assert.equal(img.data.length, 8 * 8 * 3);
    assert.ok(Math.abs(img.data[0]! - 100) <= 1);
  });

  it('converts CMYK JPEGs to sRGB', async () => {
    const cmyk = await solid(16, 16, 3, [200, 30, 30]).toColourspace('cmyk').jpeg().toBuffer();
    assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
    const img = await decodeImage(cmyk);
    assert.equal(img.channels, 3);
    assert.ok(img.data[0]! > 150 && img.data[1]! < 90, `got ${[...img.data.subarray(0, 3)]}`);
  });

  it(`downscales an 8000x8000 image to ${DECODE_MAX_SIDE} px on its longer side`, async () => {
    const big = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 9, g: 99, b: 199 } } }).jpeg().toBuffer();
    const img = await decodeImage(big);
    assert.deepEqual([img.width, img.height], [DECODE_MAX_SIDE, DECODE_MAX_SIDE]);
  });

  it('without sharp installed, fails with MISSING_DEPENDENCY naming the package to install', () => {
    // A resolve hook that hides 'sharp', as in an app that did not install the optional peer.
    const hide = `export async function resolve(s, c, next) { if (s === 'sharp') throw Object.assign(new Error('Cannot find package sharp'), { code: 'ERR_MODULE_NOT_FOUND' }); return next(s, c); }`;
    const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hide)}));`;
    const run = `import('${new URL('./decode.ts', import.meta.url).href}').then((m) => m.decodeImage(new Uint8Array([1, 2, 3]))).then(() => console.log('decoded'), (e) => console.log(e.code + ': ' + e.message));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', run], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), "MISSING_DEPENDENCY: Decoding image files in Node needs the 'sharp' package: npm install sharp", r.stderr);
  });
});
