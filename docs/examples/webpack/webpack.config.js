import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Nothing edgetune-specific: webpack 5 finds the worker, the .wasm files and the
// backbone through their `new URL(..., import.meta.url)` references and emits them.
export default {
  mode: 'production',
  entry: './src/main.js',
  output: { path: join(here, 'dist'), filename: 'main.js', clean: true },
};
