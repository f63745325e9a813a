// A plain row-major float32 matrix product, as a native runtime's would be: the
// host product the tail tests hand to the engine in place of ONNX Runtime's.
import type { HostGemm } from '../engine/model/forward.js';

export const jsGemm: HostGemm = (a, [ar, ac], b, [br, bc], ta, tb) => {
  const [m, k, n] = [ta ? ac : ar, ta ? ar : ac, tb ? br : bc];
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * ac + i]! : a[i * ac + p]!) * (tb ? b[j * bc + p]! : b[p * bc + j]!);
      out[i * n + j] = s;
    }
  return out;
};
