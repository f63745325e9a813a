// What addExamples takes and returns.

/** Examples per class and split. */
export type ExampleCounts = Record<string, { train: number; val: number }>;

export interface AddExamplesOptions {
  /** 'val' pins the images to the validation set; by default a seeded split chooses. */
  split?: 'train' | 'val';
  /**
   * One name per image (a file name, your own record id): inspect() and evaluate() name the examples by it.
   * @default '<label> image <i>'
   */
  names?: string[];
}
