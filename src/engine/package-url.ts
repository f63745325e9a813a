// The package's root folder as a URL. This module sits two folders below the
// root both in src/ (src/engine/) and when bundled into dist/ (dist/engine/,
// dist/chunks/), so one relative URL serves both. Browser workers never rely on
// it: bundlers move files, so the worker entry names each file it loads.
const UP_TWO = '../../';
// Not a literal: bundlers would take `new URL('<literal>', import.meta.url)` for an asset to emit.
export const packageRootUrl = (): URL => new URL(UP_TWO, import.meta.url);
