// The package's root folder as a URL. This module sits two folders below the
// root both in src/ (src/engine/) and when bundled into dist/ (dist/engine/,
// dist/chunks/), so one relative URL serves both.
export const packageRootUrl = (): URL => new URL('../../', import.meta.url);
