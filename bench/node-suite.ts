// Node profile: the engine on WASM (SIMD, one thread), as the CLI runs it.
// Prints one JSON object on stdout; progress on stderr.
import { PerformanceObserver } from 'node:perf_hooks';
import { createEngine } from '../src/engine/engine.js';
import { partialSuite, runEngineSuite } from './lib/engine-suite.js';

const quick = process.argv.includes('--quick');
// Time in garbage collection, for the partial epochs' breakdown.
let gcTotal = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => (gcTotal += e.duration))).observe({ entryTypes: ['gc'] });
const gcMs = () => gcTotal;
const engine = await createEngine({ backends: ['wasm'] });
if (process.argv.includes('--partial-only')) {
  // `node --import tsx bench/node-suite.ts --partial-only`: the partial strategy's epoch cost alone.
  const partial = await partialSuite(engine, { quick, partialSize: quick ? 50 : 1000, gcMs, log: (m) => process.stderr.write(`[bench node] ${m}\n`) });
  process.stdout.write(JSON.stringify({ profile: 'node-wasm', backend: engine.backend, partial }) + '\n');
  await engine.dispose();
  process.exit(0);
}
const result = await runEngineSuite(engine, {
  quick,
  sizes: quick ? [50] : [200, 1000],
  naiveSize: quick ? 50 : 200,
  partialSize: quick ? 50 : 1000,
  cycles: quick ? 10 : 100,
  sampleMemory: () => process.memoryUsage().rss,
  gcMs,
  log: (m) => process.stderr.write(`[bench node] ${m}\n`),
});
await engine.dispose();
process.stdout.write(JSON.stringify({ profile: 'node-wasm', backend: engine.backend, ...result }) + '\n');
