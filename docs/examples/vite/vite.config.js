// Optional: cross-origin isolation lets edgetune's WASM backend use every core
// (one thread without it). edgetune itself needs no Vite configuration.
const isolated = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default {
  server: { headers: isolated },
  preview: { headers: isolated },
};
