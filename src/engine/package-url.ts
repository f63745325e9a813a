// The package's root folder as a URL. This module sits two folders below the
// root both in src/ (src/engine/) and when bundled into dist/ (dist/engine/,
// dist/chunks/), so one relative URL serves both. Browser workers never rely on
// it: bundlers move files, so the worker entry names each file it loads.
export const packageRootUrl = (): URL => {
  // Not `new URL(<x>, import.meta.url)` in one expression: bundlers take that form
  // for an asset to emit, and warn when <x> is not a literal.
  const here = import.meta.url;
  return new URL('../../', here);
};
