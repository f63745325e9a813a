// tfjs-core's own specs for the kernels edgetune registers or trains through
// (scripts/tfjs-specs/run.mjs): every spec that passes on the CPU backend passes
// on tfjs-backend-wasm with edgetune's kernels, except the exclusions below,
// each a limit of a stock WASM kernel that edgetune does not use (and each
// checked to still fail, so that the list cannot outlive its reason).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSpecs, SPEC_FILES, splitName } from './tfjs-specs/run.mjs';

/** Spec-name patterns that fail on stock tfjs-backend-wasm 4.22 kernels, with the reason. */
const EXCLUSIONS = [
  [/^(?!.*throws).*NCHW/, "tfjs-backend-wasm's Conv2D and FusedConv2D take NHWC only (edgetune's tensors are NHWC)"],
  [/^fused (conv2d|depthwiseConv2D) (basic|im2row) with broadcasted bias and relu$|^fused (conv2d|depthwiseConv2D) gradient .* with bias$/, "the WASM FusedConv2D / FusedDepthwiseConv2D take rank-1 biases only (edgetune's are rank-1)"],
  [/complex64/, 'the WASM backend has no complex64 tensors'],
  [/^matmul upcasts when dtypes dont match$/, "the WASM BatchMatMul is float32-only (edgetune's products are float32)"],
  [/^clipByValue (basic vec4|propagates NaNs)$/, "the WASM ClipByValue (XNNPACK's clamp) maps NaN into the range; a diverged training is caught on its loss, not here"],
];

test("tfjs-core's specs pass on WASM with edgetune's kernels wherever they pass on CPU", { timeout: 300_000 }, async () => {
  const { specs } = await runSpecs({ backends: ['cpu', 'wasm'] });
  const by = { cpu: new Map(), wasm: new Map() };
  for (const s of specs) {
    const k = splitName(s.name, ['cpu', 'wasm']);
    if (k && s.status !== 'excluded') by[k.backend].set(k.spec, s);
  }
  // Every suite ran, on both backends (a rename upstream would otherwise run nothing).
  for (const suite of Object.values(SPEC_FILES).flat()) {
    for (const b of ['cpu', 'wasm']) assert.ok([...by[b].keys()].some((n) => n.startsWith(`${suite} `)), `no '${suite}' spec ran on ${b}`);
  }
  const reasonFor = (name) => EXCLUSIONS.find(([re]) => re.test(name))?.[1];
  const failures = [];
  const stale = [];
  for (const [name, ref] of by.cpu) {
    if (ref.status !== 'passed') continue;
    const got = by.wasm.get(name);
    const passed = got?.status === 'passed';
    if (!passed && !reasonFor(name)) failures.push(`${name}: ${got ? got.message : 'did not run'}`);
    if (passed && reasonFor(name)) stale.push(name);
  }
  assert.deepEqual(failures, [], 'specs that pass on CPU fail on WASM');
  assert.deepEqual(stale, [], 'excluded specs that pass now (remove their exclusion)');
  // The gradients edgetune adds are among what passed.
  const passedWasm = [...by.wasm].filter(([, s]) => s.status === 'passed').map(([n]) => n);
  assert.ok(passedWasm.filter((n) => n.startsWith('depthwiseConv2d gradients ')).length >= 8, 'the depthwise gradient specs (8 names) pass');
  assert.ok(passedWasm.some((n) => n === 'conv2d gradient x=[2,3,3,1] f=[2,2,1,1] s=1 p=0'), 'the NHWC conv2d gradient spec passes');
});
