// Node-only helpers (sharp decoding, on-disk cache, model directories). Kept out
// of index.ts so the browser worker never bundles node: modules or sharp.
export { decodeImage, decodeImageFile, IMAGE_EXTENSIONS, DECODE_MAX_SIDE } from './decode.js';
export { FileEmbeddingStore } from './embed-store-fs.js';
export { fileSource, readModelDir, writeModelDir } from './files.js';
export { onnxRuntimeForward, loadOnnxRuntime, type OnnxForwardOptions } from './onnx-forward.js';
export { nodeWasmThreads } from './wasm-threads.js';
