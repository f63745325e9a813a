// Turns a benchmark result into the README's Markdown table and an SVG chart.

const ms = (x) => (x === undefined || x === null ? '–' : `${Math.round(x).toLocaleString('en-US')} ms`);
/** fineTune against the floor: the median of its rounds' ratios (bench/lib/rounds.ts). */
const vsFloor = (f) =>
  `${ms(f.ms)} (${f.ratioToFloor}x floor${f.embedRatioToFloor ? `, embedding pass ${f.embedRatioToFloor}x` : ''}, ${f.rounds?.length > 1 ? `median of ${f.rounds.length} rounds` : 'one round'})`;
const x = (v, target) => (v === undefined || v === null ? '–' : `${v}x${target ? ` (target ${target})` : ''}`);

/** @param {any} r the result of bench/run.mjs */
export function markdown(r) {
  const c = r.chromium?.wasm ?? {};
  const n = r.node ?? {};
  const nFine = n.fineTune ?? {};
  const rows = [
    ['Backbone floor, per image (best batch)', `${c.floor?.bestMs} ms`, `${n.floor?.bestMs} ms`, ''],
    [`Backbone floor, best batch: ${r.wasmThreads} threads / 1 thread (Chromium WASM)`, `${c.floor?.bestMs} / ${r.chromium?.wasmOneThread?.floor?.bestMs} ms (${x(r.wasmThreadsFloorRatio)})`, '–', '≤ 0.65x'],
    ['Backbone floor, per image (batch 1)', `${c.floor?.batch1Ms} ms`, `${n.floor?.batch1Ms} ms`, ''],
    ...Object.entries(nFine).map(([size, f]) => [
      `fineTune head, N=${size}, ${r.epochs} epochs`,
      Number(size) === c.fineTune?.n ? vsFloor(c.fineTune) : '–',
      vsFloor(f),
      '≤ 1.15x floor',
    ]),
    ...(c.fineTune && !nFine[c.fineTune.n] ? [[`fineTune head, N=${c.fineTune.n}`, vsFloor(c.fineTune), '–', '≤ 1.15x floor']] : []),
    ...(c.engineFineTune ? [[`the engine's fineTune in the bench worker, floor between its batches, N=${c.engineFineTune.n}`, vsFloor(c.engineFineTune), '–', '']] : []),
    [`Naive baseline (backbone every epoch), N=${c.naive?.n ?? n.naive?.n}`, `${ms(c.naive?.ms)} (${x(r.naiveOverEdgetune)} edgetune)`, `${ms(n.naive?.ms)} (${x(n.naive?.overEdgetune)} edgetune)`, '≥ 15x'],
    [`Node embedding pass, N=${n.embed?.n}: tfjs / onnxruntime`, '–', `${ms(n.embed?.tfjsMs)} / ${ms(n.embed?.onnxruntimeMs)} (${x(n.embed?.speedup)} faster)`, '≥ 1.7x'],
    [`Partial strategy on ${r.partialRun?.dataset ?? 'fashion-dev'}, CLI wall time (bench/partial.mjs, ${r.partialRun?.date ?? 'not run'}, seeds ${r.partialRun?.runs?.map((x) => x.seed).join(',') ?? '–'})`, '–', r.partialRun ? `${r.partialRun.meanMinutes} min, test ${r.partialRun.meanTestAccuracy}` : '–', '< 15 min'],
    ['Re-train after +10 images', `${ms(c.retrain?.ms)} (${x(c.retrain?.speedup)} faster)`, `${ms(n.retrain?.retrainMs)} (${x(n.retrain?.speedup)} faster)`, '≥ 10x'],
    [`Partial: prefix pass / 1st epoch / later epochs, N=${n.partial?.n}`, '–', `${ms(n.partial?.prefixPassMs)} / ${ms(n.partial?.firstEpochMs)} / ${ms(n.partial?.laterEpochMs)}`, ''],
    [
      'Partial: a later epoch beyond its tail forward/backward (AdamW + head + rest) vs 3 head epochs',
      '–',
      n.partial?.inEpoch
        ? `${n.partial.inEpoch.map((e) => ms(e.beyondTailMs)).join(', ')} (AdamW ${n.partial.inEpoch.map((e) => Math.round(e.optimizerMs)).join('/')} ms) vs ${ms(n.partial.threeHeadEpochsMs)}`
        : '–',
      '≤ 3x head epoch',
    ],
    ['predict p50 / p95, batch 1 (worker round trip)', `${c.predict?.p50Ms} / ${c.predict?.p95Ms} ms (${x(c.predict?.overForward)} a forward pass of ${c.predict?.forwardMs} ms)`, '–', '≤ 1.10x forward'],
    ['predict throughput, batch 16', `${c.predict?.batch16ImagesPerS} img/s`, '–', ''],
    ['Cold start (createClassifier → first prediction)', ms(c.coldStartMs), '–', ''],
    ['Main-thread long tasks during fineTune / predict loop', `${c.longTasks?.fineTune?.count} / ${c.longTasks?.predictLoop?.count} (max ${c.longTasks?.fineTune?.maxMs} / ${c.longTasks?.predictLoop?.maxMs} ms)`, '–', '0 over 50 ms'],
    [`Memory, N=${n.memory?.n}: peak tensor bytes / RSS`, '–', `${(n.memory?.peakTensorBytes / 1e6).toFixed(1)} MB / ${(n.memory?.peakRssBytes / 1e6).toFixed(0)} MB`, ''],
    [`Tensors before/after ${n.tensors?.cycles} fineTune+predict cycles`, '–', `${n.tensors?.before} / ${n.tensors?.after}`, 'equal'],
    ['WASM floor batch 1: threads (COOP/COEP) vs no isolation', `${c.floor?.batch1Ms} ms (${c.backend?.details?.threads} threads) vs ${r.chromium?.wasmNoIsolation?.floor?.batch1Ms ?? '–'} ms (${r.chromium?.wasmNoIsolation?.backend?.details?.threads ?? '–'} thread)`, '–', ''],
    ...(r.chromium?.webgpu ? [[`WebGPU floor batch 1 (${r.chromium.webgpu.backend?.details?.software ? 'SwiftShader, software' : r.chromium.webgpu.backend?.details?.adapter})`, `${r.chromium.webgpu.floor?.batch1Ms} ms`, '–', '']] : []),
    ...Object.entries(r.bundles ?? {}).map(([name, b]) => [`Bundle ${name} (min / gzip)`, `${(b.min / 1024).toFixed(1)} KB / ${(b.gzip / 1024).toFixed(1)} KB`, '', name === 'edgetune (main)' ? '≤ 15 KB gzip' : '']),
  ];
  const head = '| Measure | Chromium (WASM) | Node (WASM) | Target |\n|---|---|---|---|\n';
  return head + rows.map((row) => `| ${row.join(' | ')} |`).join('\n') + '\n';
}

/** A bar chart of the time per training image: floor, edgetune, re-training, naive. */
export function chart(r) {
  const c = r.chromium?.wasm;
  const n = r.node;
  const per = (t, count) => (t && count ? t / count : undefined);
  const groups = [
    ['Chromium WASM', c && [c.floor?.bestMs, per(c.fineTune?.ms, c.fineTune?.n), per(c.retrain?.ms, c.fineTune?.n + 10), per(c.naive?.ms, c.naive?.n)]],
    ['Node WASM', n && [n.floor?.bestMs, per(n.fineTune?.[n.naive?.n]?.ms, n.naive?.n), per(n.retrain?.retrainMs, n.naive?.n + 10), per(n.naive?.ms, n.naive?.n)]],
  ].filter(([, v]) => v);
  const names = ['backbone floor', 'edgetune fineTune', 're-train (+10)', `naive (${r.epochs} epochs)`];
  const colors = ['#7a7a7a', '#1b4d3e', '#2f7d5b', '#b35900'];
  const max = Math.max(...groups.flatMap(([, v]) => v.filter(Number.isFinite)));
  const W = 640;
  const rowH = 18;
  const left = 170;
  let y = 40;
  let body = '';
  for (const [g, vals] of groups) {
    body += `<text x="8" y="${y + 12}" font-weight="bold">${g}</text>`;
    y += 20;
    vals.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const w = Math.max(1, ((W - left - 90) * v) / max);
      body += `<text x="16" y="${y + 13}">${names[i]}</text><rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 4}" fill="${colors[i]}"/>`;
      body += `<text x="${left + w + 6}" y="${y + 13}">${v.toFixed(1)} ms</text>`;
      y += rowH;
    });
    y += 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="14" font-weight="bold">Training cost per image (${r.epochs} epochs, head strategy): lower is better</text>
${body}</svg>
`;
}
