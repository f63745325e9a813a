// Values shared by every entry (main thread, worker, engine); no dependencies.

/** The label `predict` puts first, with `rejectUnknown`, for an input far from every class. Reserved: no class may use it. */
export const UNKNOWN_LABEL = '<unknown>';
