// Images generated in code for tests that must pass without ../shared: each
// class has its own shape, colour family and texture, with seeded jitter.
import type { RawImage } from '../types.js';
import { createRng } from '../engine/util/random.js';

export const SYNTHETIC_CLASSES = ['disc', 'stripes', 'checker', 'triangle'] as const;
export type SyntheticClass = (typeof SYNTHETIC_CLASSES)[number];

/** A `size` x `size` (or `size` wide, `height` high) RGB image of class `cls`, deterministic in `seed`. */
export function syntheticImage(cls: SyntheticClass, seed: number, size = 96, height = size): RawImage {
  const rng = createRng(seed * 31 + SYNTHETIC_CLASSES.indexOf(cls) * 1_000_003);
  const width = size;
  const data = new Uint8Array(width * height * 3);
  const bg = [200 + rng() * 55, 200 + rng() * 55, 200 + rng() * 55];
  const jitter = () => (rng() - 0.5) * 60;
  const base: Record<SyntheticClass, number[]> = {
    disc: [220, 40, 40],
    stripes: [40, 60, 220],
    checker: [30, 170, 60],
    triangle: [230, 180, 20],
  };
  const fg = base[cls].map((c) => Math.max(0, Math.min(255, c + jitter())));
  const cx = width * (0.35 + rng() * 0.3);
  const cy = height * (0.35 + rng() * 0.3);
  const r = Math.min(width, height) * (0.2 + rng() * 0.15);
  const period = 6 + Math.floor(rng() * 6);
  const phase = Math.floor(rng() * period);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let on: boolean;
      switch (cls) {
        case 'disc':
          on = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
          break;
        case 'stripes':
          on = Math.floor((y + phase) / period) % 2 === 0;
          break;
        case 'checker':
          on = (Math.floor((x + phase) / period) + Math.floor((y + phase) / period)) % 2 === 0;
          break;
        case 'triangle':
          on = y > cy - r && y < cy + r && Math.abs(x - cx) < (y - (cy - r)) / 2;
          break;
      }
      const noise = (rng() - 0.5) * 30;
      const px = on ? fg : bg;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, px[c]! + noise));
    }
  }
  return { data, width, height, channels: 3 };
}

/** `perClass` images of each of the first `classes` synthetic classes. */
export function syntheticSet(perClass: number, classes = 2, seed = 1): { label: SyntheticClass; image: RawImage }[] {
  return SYNTHETIC_CLASSES.slice(0, classes).flatMap((label) =>
    Array.from({ length: perClass }, (_, i) => ({ label, image: syntheticImage(label, seed * 10_000 + i) })),
  );
}
