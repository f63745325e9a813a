// Mutation testing (npm run test:mutation; not in CI: slow on two cores). StrykerJS
// mutates the training code and the CLI's file handling and runs the unit test
// files that cover each mutant (node:test files through tsx, TAP output), with
// TypeScript's checker discarding mutants that do not compile. docs/mutation.md
// has the scores and the surviving mutants judged equivalent.
export default {
  testRunner: 'tap',
  tap: {
    // The fast unit files: they import src/ directly (the CLI tests run dist/, which a mutant never reaches).
    // The tiny generated backbone (src/testing/tiny-backbone.ts) lets the pipeline, the strategies, the tail and the exports run end to end in seconds.
    testFiles: [
      'src/engine/train/{stages,loop,optimizer,metrics,pipeline,schedule}.test.ts',
      'src/engine/train/strategies/{strategies,prefix-cache}.test.ts',
      'src/engine/model/{tail,tail-check,graph,merged-graph,model-files,manifest,backbone,backbone-load,fetch,model-card,export-formats,network,head,open-set,import-checks}.test.ts',
      'src/engine/model/{export-contract,onnx/onnx-tiny,tflite/tflite-tiny,quantize/int8,quantize/calibration-data}.test.ts',
      'src/node/{files,output-dir,mkdirs,decode,onnx-forward-tiny}.test.ts',
      'src/engine/data/feature-rows.test.ts',
    ],
    nodeArgs: ['--import', 'tsx'],
  },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  mutate: ['src/engine/train/**/*.ts', 'src/engine/model/**/*.ts', '!src/**/*.test.ts', 'src/node/files.ts', 'src/node/output-dir.ts', 'src/node/mkdirs.ts'],
  coverageAnalysis: 'perTest',
  // Two test runners beside the TypeScript checkers on a two-core machine (3 leaves one runner).
  concurrency: 4,
  timeoutMS: 20000,
  incremental: true,
  incrementalFile: '.cache/stryker/incremental.json',
  tempDirName: '.cache/stryker/tmp',
  ignorePatterns: ['dist', 'demo/dist', 'e2e/.build', 'bench/results', 'test-results', '.cache', 'docs/examples'],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: '.cache/stryker/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
};
