// Node profile: the engine on tfjs's WASM backend (SIMD, one thread), as edgetune/engine
// runs it by default; the CLI's default forward (ONNX Runtime) is measured against it in embedSpeedup.
// Prints one JSON object on stdout; progress on stderr.
import { PerformanceObserver } from 'node:perf_hooks';
import { createEngine } from '../src/engine/engine.js';
import { onnxRuntimeForward } from '../src/node/onnx-forward.js';
import { embedPassMs, runEngineSuite } from './lib/engine-suite.js';
import { partialSuite } from './lib/partial-suite.js';

const quick = process.argv.includes('--quick');
// Time in garbage collection, for the partial epochs' breakdown.
let gcTotal = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => (gcTotal += e.duration))).observe({ entryTypes: ['gc'] });
const gcMs = () => gcTotal;
const engine = await createEngine({ backends: ['wasm'] });
const log = (m: string) => process.stderr.write(`[bench node] ${m}\n`);
const partialOptions = { quick, partialSize: quick ? 50 : 1000, gcMs, log };
if (process.argv.includes('--partial-only')) {
  // `node --import tsx bench/node-suite.ts --partial-only`: the partial strategy's epoch cost alone.
  const partial = await partialSuite(engine, partialOptions);
  process.stdout.write(JSON.stringify({ profile: 'node-wasm', backend: engine.backend, partial }) + '\n');
  await engine.dispose();
  process.exit(0);
}
const result = await runEngineSuite(engine, {
  quick,
  sizes: quick ? [50] : [200, 1000],
  naiveSize: quick ? 50 : 200,
  cycles: quick ? 10 : 100,
  sampleMemory: () => process.memoryUsage().rss,
  log,
});
const partial = await partialSuite(engine, partialOptions);
await engine.dispose();
log('embedding pass: tfjs vs onnxruntime');
const embed = await embedSpeedup(quick ? 48 : 200);
process.stdout.write(JSON.stringify({ profile: 'node-wasm', backend: engine.backend, ...result, partial, embed }) + '\n');

/**
 * The embedding pass of fineTune (decode, resize, backbone) on the same images,
 * tfjs (WASM, one thread) against ONNX Runtime (the CLI's default): the bench's
 * nodeEmbedSpeedup. Each engine embeds every image once, cold.
 */
async function embedSpeedup(n: number) {
  const tfjsMs = await embedPassMs(await createEngine({ backends: ['wasm'] }), n);
  const onnxruntimeMs = await embedPassMs(await createEngine({ backends: ['wasm'], forward: onnxRuntimeForward() }), n);
  return { n, tfjsMs: Math.round(tfjsMs), onnxruntimeMs: Math.round(onnxruntimeMs), speedup: Number((tfjsMs / onnxruntimeMs).toFixed(2)) };
}
