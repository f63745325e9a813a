// Values shared by every entry (main thread, worker, engine); no dependencies.

/** The label `predict` puts first, with `rejectUnknown`, for an input far from every class. Reserved: no class may use it. */
export const UNKNOWN_LABEL = '<unknown>';

/** This package's version, written into exported models (package.json's, kept equal by a test). */
export const EDGETUNE_VERSION = '0.1.0';
