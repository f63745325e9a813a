// What inspect() reports about a labelled image set: duplicates, likely label
// errors, outliers, confusable classes and what to add next (docs/inspect.md).
import type { Progress } from './types.js';

/** Where an inspected image sits: the engine's own splits, or the test split the CLI reads. */
export type InspectSplit = 'train' | 'val' | 'test' | 'pool';

/** One image named in an inspection: its name (a file path, an example's name), class and split. */
export interface InspectItem {
  /** Index in the inspected list (the engine's examples in the order added). */
  index: number;
  /** The engine example's id (not for test or pool images): what removeExamples and relabelExamples take. */
  id?: number;
  name: string;
  label: string;
  split: InspectSplit;
}

export interface DuplicateGroup {
  /** 'exact': the same bytes; 'near': the same picture resized, recompressed or lightly cropped. */
  kind: 'exact' | 'near';
  items: InspectItem[];
  /** Lowest copy score of a pair that joined the group (aligned grey thumbnails; 1 for exact copies). */
  similarity: number;
  /** The group spans more than one split (a test image also in train inflates test scores). */
  crossSplit: boolean;
  /** The group's images carry different labels. */
  conflictingLabels: boolean;
}

export interface LabelIssue {
  item: InspectItem;
  /** The label the out-of-fold model believes. */
  suggested: string;
  /** Out-of-fold probability of the given label (low: likely wrong); issues are listed by it, lowest first. */
  givenProbability: number;
  suggestedProbability: number;
  /** suggestedProbability - givenProbability. */
  score: number;
}

export interface Outlier {
  item: InspectItem;
  /** Cosine distance to the nearest class centre. */
  distance: number;
  /** That distance over the typical (median) distance of examples to their own class centre. */
  ratio: number;
}

export interface ConfusablePair {
  a: string;
  b: string;
  /** Out-of-fold share of a's examples predicted b, and of b's predicted a. */
  aAsB: number;
  bAsA: number;
}

export interface ClassAdvice {
  label: string;
  examples: number;
  /** Out-of-fold recall: how often a model trained without an example still gets it right. */
  recall: number;
  /** More examples suggested for this class (0: enough for now). */
  suggestedMore: number;
}

export interface InspectReport {
  /** Images inspected (undecodable ones are left out and listed in `skipped`). */
  n: number;
  duplicates: DuplicateGroup[];
  labelIssues: LabelIssue[];
  outliers: Outlier[];
  confusablePairs: ConfusablePair[];
  classes: ClassAdvice[];
  /** With a pool of unlabelled images: the order to label them in, most useful first. */
  labelNext?: { item: InspectItem; margin: number }[];
  /** Out-of-fold accuracy of the k-fold heads: how well the data predicts itself. */
  oofAccuracy: number;
  /** The near-duplicate copy-score threshold used. */
  nearDuplicateThreshold: number;
  skipped?: { name: string; reason: string }[];
  ms: number;
}

export interface InspectOptions<Image = unknown> {
  /**
   * How alike two images must be to be near duplicates: the copy score of their aligned grey thumbnails (about 1 for
   * a resized, recompressed or lightly cropped copy). @default 0.9
   */
  nearDuplicateThreshold?: number;
  /** Folds of the out-of-fold heads. @default 5 */
  folds?: number;
  /** Unlabelled images to rank for labelling: labelNext gives the order to label them in. */
  pool?: Image[];
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}
