// edgetune: the main-thread API. Named re-exports only; no tfjs here.
export { createClassifier, type Classifier, type ClassifierOptions, type ImageInput } from './client/classifier.js';
export { EdgetuneError, isEdgetuneError, type EdgetuneErrorCode } from './errors.js';
export { UNKNOWN_LABEL } from './constants.js';
export type * from './types.js';

