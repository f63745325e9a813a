// Runs in headless Chromium: 5,000 images (10 classes, 96x96 PNG) added to and
// trained by the shipped SDK, as an app with a big photo library would. PNGs are
// encoded in a helper worker, so the page's main thread only does what an app
// does: hand Blobs to the classifier and wait. Reports time, memory and every
// main-thread long task.
// @ts-expect-error resolved by the browser at run time
import { createClassifier } from '/dist/index.js';

interface ScaleOptions {
  images: number;
  classes: number;
  perCall: number;
  epochs: number;
  /** What the app hands over: the PNG Blobs, or what it would have after showing them (img elements, canvases, ImageData). */
  input: 'blob' | 'img' | 'canvas' | 'imagedata';
  /** false: only add (to look at adding alone). */
  train: boolean;
  /** Side of the square images in pixels. */
  size: number;
}

/** The PNGs as the input kind under test, made before the timed phase. */
async function asInput(blobs: Blob[], input: ScaleOptions['input']): Promise<unknown[]> {
  if (input === 'blob') return blobs;
  const bitmaps = await Promise.all(blobs.map((b) => createImageBitmap(b)));
  if (input === 'img') {
    return Promise.all(
      blobs.map(async (b) => {
        const img = new Image();
        img.src = URL.createObjectURL(b);
        await img.decode();
        return img;
      }),
    );
  }
  return bitmaps.map((bmp) => {
    const c = document.createElement('canvas');
    c.width = bmp.width;
    c.height = bmp.height;
    const g = c.getContext('2d', { willReadFrequently: input === 'imagedata' })!;
    g.drawImage(bmp, 0, 0);
    bmp.close();
    return input === 'canvas' ? c : g.getImageData(0, 0, c.width, c.height);
  });
}

/** The PNG encoder, as worker source: class k is a disc, stripes or checks in its own hue, jittered. */
const ENCODER = `
self.onmessage = async ({ data: { from, to, classes, size } }) => {
  const out = [];
  for (let i = from; i < to; i++) {
    const k = i % classes;
    const c = new OffscreenCanvas(size, size);
    const g = c.getContext('2d');
    g.scale(size / 96, size / 96);
    let s = i * 2654435761 >>> 0;
    const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
    g.fillStyle = 'hsl(' + (k * 36) + ',15%,' + (80 + r() * 15) + '%)';
    g.fillRect(0, 0, 96, 96);
    g.fillStyle = 'hsl(' + (k * 36 + r() * 20) + ',70%,45%)';
    const kind = k % 3, p = 8 + Math.floor(r() * 8);
    if (kind === 0) { g.beginPath(); g.arc(30 + r() * 36, 30 + r() * 36, 18 + r() * 10, 0, 7); g.fill(); }
    else if (kind === 1) for (let y = 0; y < 96; y += 2 * p) g.fillRect(0, y, 96, p);
    else for (let y = 0; y < 96; y += p) for (let x = (y / p) % 2 ? p : 0; x < 96; x += 2 * p) g.fillRect(x, y, p, p);
    out.push({ label: 'class-' + k, blob: await c.convertToBlob({ type: 'image/png' }) });
  }
  self.postMessage(out);
};`;

async function encode(from: number, to: number, classes: number, size: number): Promise<{ label: string; blob: Blob }[]> {
  const w = new Worker(URL.createObjectURL(new Blob([ENCODER], { type: 'text/javascript' })));
  try {
    return await new Promise((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage({ from, to, classes, size });
    });
  } finally {
    w.terminate();
  }
}

type Memory = { usedJSHeapSize: number };

async function runScale(o: ScaleOptions) {
  const longTasks: { phase: string; ms: number; at: number }[] = [];
  let phase = 'setup';
  new PerformanceObserver((l) => l.getEntries().forEach((e) => longTasks.push({ phase, ms: Math.round(e.duration), at: Math.round(e.startTime) }))).observe({ type: 'longtask' });
  // Long animation frames name the scripts behind a long task (where the time went).
  const frames: unknown[] = [];
  new PerformanceObserver((l) =>
    l.getEntries().forEach((e) => {
      const f = e as PerformanceEntry & { blockingDuration: number; scripts: { invoker: string; sourceURL: string; sourceFunctionName: string; duration: number; forcedStyleAndLayoutDuration: number }[] };
      if (f.blockingDuration > 0) frames.push({ phase, at: Math.round(e.startTime), ms: Math.round(e.duration), blocking: Math.round(f.blockingDuration), scripts: f.scripts.map((x) => ({ invoker: x.invoker, fn: x.sourceFunctionName, url: x.sourceURL.split('/').pop(), ms: Math.round(x.duration) })) });
    }),
  ).observe({ type: 'long-animation-frame', buffered: true });
  const encoded = await encode(0, o.images, o.classes, o.size);
  const inputs = await asInput(encoded.map((e) => e.blob), o.input);
  const images = encoded.map((e, i) => ({ label: e.label, image: inputs[i] }));
  const clf = await createClassifier({ backends: ['wasm'], persistentCacheBytes: 0 });
  let workerPeak = 0;
  let pagePeak = 0;
  const sample = async () => {
    workerPeak = Math.max(workerPeak, (await clf.stats()).numBytes);
    pagePeak = Math.max(pagePeak, (performance as unknown as { memory?: Memory }).memory?.usedJSHeapSize ?? 0);
  };
  const timer = setInterval(() => void sample(), 500);
  try {
    phase = 'add';
    let t0 = performance.now();
    const byLabel = new Map<string, unknown[]>();
    for (const { label, image } of images) (byLabel.get(label) ?? byLabel.set(label, []).get(label)!).push(image);
    for (const [label, blobs] of byLabel) {
      for (let i = 0; i < blobs.length; i += o.perCall) await clf.addExamples(label, blobs.slice(i, i + o.perCall));
    }
    const addMs = performance.now() - t0;
    phase = 'train';
    t0 = performance.now();
    const report = o.train ? await clf.fineTune({ epochs: o.epochs, augment: 0 }) : null;
    const trainMs = performance.now() - t0;
    phase = 'done';
    await sample();
    const uaMemory = (performance as unknown as { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }).measureUserAgentSpecificMemory;
    const total = uaMemory && globalThis.crossOriginIsolated ? (await uaMemory.call(performance)).bytes : null;
    return {
      images: o.images,
      classes: o.classes,
      perCall: o.perCall,
      input: o.input,
      addMs: Math.round(addMs),
      trainMs: report ? Math.round(trainMs) : null,
      embedMs: report ? Math.round(report.embedMs) : null,
      valAccuracy: report?.bestValAccuracy ?? null,
      workerTensorBytesPeak: workerPeak,
      pageHeapBytesPeak: pagePeak,
      userAgentMemoryBytes: total,
      longFrames: frames,
      longTasks: {
        add: longTasks.filter((t) => t.phase === 'add'),
        train: longTasks.filter((t) => t.phase === 'train'),
      },
    };
  } finally {
    clearInterval(timer);
    await clf.dispose();
  }
}

(globalThis as unknown as { runScale: typeof runScale }).runScale = runScale;
document.title = 'ready';
