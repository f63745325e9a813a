// The model card beside every export: the Hugging Face front matter with the
// held-out metrics, the classes and how they were trained, the data table, the
// evaluation table, and a snippet for each file the folder holds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EDGETUNE_VERSION } from '../../constants.js';
import type { ModelEvaluation, ResolvedTrainConfig } from '../../types.js';
import type { BackboneManifest } from './manifest.js';
import { modelCard, type CardInput } from './model-card.js';

const manifest = {
  id: 'mobilenet_v2',
  name: 'MobileNetV2 1.0',
  license: 'Apache-2.0',
  source: { package: 'nsfwjs', version: '4.4.0', path: 'dist/models/mobilenet_v2', upstream: 'Keras Applications MobileNetV2' },
} as unknown as BackboneManifest;

const evaluation: ModelEvaluation = {
  split: 'test',
  dataset: 'stamps',
  accuracy: 0.91234,
  n: 40,
  ece: 0.0456,
  labels: ['cat', 'dog|pup'],
  perClass: [
    { label: 'cat', precision: 0.9, recall: 0.95, f1: 0.92432, support: 20 },
    { label: 'dog|pup', precision: 0.8, recall: 0.75, f1: 0.77419, support: 20 },
  ],
  confusion: [],
} as unknown as ModelEvaluation;

const full: CardInput = {
  labels: ['cat', 'dog|pup'],
  manifest,
  files: ['model.onnx', 'labels.json'],
  training: { config: { seed: 7 } as ResolvedTrainConfig, epochsRun: 12, bestEpoch: 9, counts: { cat: { train: 30, val: 5 }, 'dog|pup': { train: 28, val: 4 } } },
  evaluation,
  int8: true,
  tail: { unfreezeBlocks: 2 },
};

const lines = (s: string) => s.split('\n');

describe('modelCard', () => {
  it('front matter: the library, the tags of the files present, the license, the metrics as model-index', () => {
    const card = lines(modelCard(full));
    const end = card.indexOf('---', 1);
    assert.deepEqual(card.slice(0, end + 1), [
      '---',
      'library_name: edgetune',
      'pipeline_tag: image-classification',
      'tags: [image-classification, edgetune, mobilenet_v2, onnx]',
      'license: other  # Apache-2.0',
      'model-index:',
      '  - name: "edgetune mobilenet_v2 (2 classes)"',
      '    results:',
      '      - task: { type: image-classification }',
      '        dataset: { name: "stamps", type: imagefolder, split: "test" }',
      '        metrics:',
      '          - { type: accuracy, value: 0.9123 }',
      '          - { type: recall, name: "recall (cat)", value: 0.95 }',
      '          - { type: recall, name: "recall (dog|pup)", value: 0.75 }',
      '---',
    ]);
    const tflite = lines(modelCard({ ...full, files: ['model.tflite'], evaluation: undefined as never, manifest: { ...manifest, license: undefined } as never }));
    assert.deepEqual(tflite.slice(0, 6), ['---', 'library_name: edgetune', 'pipeline_tag: image-classification', 'tags: [image-classification, edgetune, mobilenet_v2, tflite]', 'license: other  # see the backbone section', '---']);
  });

  it('says what it recognises and how it was trained, the int8 caveat, the data and evaluation tables', () => {
    const card = modelCard(full);
    assert.ok(card.includes('\n# Image classifier: cat, dog\\|pup\n'));
    assert.ok(card.includes(`Recognises 2 classes in photos: \`cat\`, \`dog\\|pup\`. Trained on the owner's device with edgetune ${EDGETUNE_VERSION} by partial fine-tuning (the last 2 blocks and the head) on mobilenet_v2 (seed 7, 12 head epochs, best at epoch 9).`));
    assert.ok(card.includes('The model files are int8, calibrated on the training images'));
    assert.ok(card.includes(['| class | train | validation | test |', '|---|---:|---:|---:|', '| cat | 30 | 5 | 20 |', '| dog\\|pup | 28 | 4 | 20 |'].join('\n')));
    assert.ok(card.includes('On the test split of stamps (40 images, none seen in training): accuracy **91.2%**, expected calibration error 0.046.'));
    assert.ok(card.includes(['| class | precision | recall | F1 | images |', '|---|---:|---:|---:|---:|', '| cat | 0.900 | 0.950 | 0.924 | 20 |', '| dog\\|pup | 0.800 | 0.750 | 0.774 | 20 |'].join('\n')));
    assert.ok(card.includes('- Meant for: sorting photos like the ones it was trained on into these 2 classes, on the device that runs it.'));
    assert.ok(card.includes("const session = await ort.InferenceSession.create('model.onnx');"));
    assert.ok(!card.includes('loadAndCompile'), 'no snippet for a file the folder lacks');
    assert.ok(card.includes('MobileNetV2 1.0, from the `nsfwjs` npm package 4.4.0 (`dist/models/mobilenet_v2`). Keras Applications MobileNetV2.'));
    assert.ok(card.includes('License: Apache-2.0.'));
  });

  it('without training metadata or evaluation: says so; a full fine-tune and a head are named as such', () => {
    const bare = modelCard({ labels: ['a', 'b'], manifest: { id: 'x' } as BackboneManifest, files: ['edgetune.json'], tail: { unfreezeBlocks: 'all' } });
    assert.ok(bare.includes('by full fine-tuning (every layer, the backbone at a lower learning rate) on x.'));
    assert.ok(bare.includes('Not recorded with this model'));
    assert.ok(bare.includes('No held-out evaluation was recorded'));
    assert.ok(bare.includes("await clf.load('/path/to/this-folder/');"));
    assert.ok(bare.includes('License: not stated in its manifest.'));
    assert.ok(!bare.includes('int8'));
    assert.ok(!bare.includes('model-index'));
    const head = modelCard({ ...full, tail: null, int8: false, evaluation: { ...evaluation, dataset: undefined, ece: undefined } as never });
    assert.ok(head.includes('by a new head on the frozen backbone on mobilenet_v2'));
    assert.ok(head.includes('On the test split (40 images, none seen in training): accuracy **91.2%**.\n'));
    assert.ok(head.includes('dataset: { name: "user images", type: imagefolder, split: "test" }'));
  });

  it('renders as Markdown: blank lines around every heading, paragraph, table and code block, the sections in order', () => {
    // A table or fence glued to the line above renders as text on Hugging Face and GitHub.
    const card = modelCard({ ...full, files: ['model.onnx', 'model.tflite', 'edgetune.json', 'labels.json'] });
    const body = card.slice(card.indexOf('\n', card.indexOf('---', 3)) + 1).split('\n');
    let fence = false;
    const outline = body.map((l) => {
      if (l.startsWith('```')) return (fence = !fence), 'fence';
      if (fence) return 'code';
      return l === '' ? '' : l.startsWith('#') ? l.replace(/:.*/, ':') : l.startsWith('|') ? 'row' : l.startsWith('- ') ? 'item' : 'text';
    });
    const snippet = (code: number) => ['text', '', 'fence', ...Array<string>(code).fill('code'), 'fence', '', 'text', ''];
    assert.deepEqual(outline, [
      '', '# Image classifier:', '', 'text', '', 'text', '',
      '## Training data', '', 'text', '', 'row', 'row', 'row', 'row', '',
      '## Evaluation', '', 'text', '', 'row', 'row', 'row', 'row', '',
      '## Intended use and limits', '', 'item', 'item', 'item', 'item', '',
      '## How to run it', '', ...snippet(3), ...snippet(4), 'text', '', 'fence', 'code', 'code', 'code', 'code', 'fence', '', 'text', '',
      '## Backbone', '', 'text', '', 'text', '',
    ]);
    assert.ok(card.endsWith('\n'));
    assert.match(card, /\n- It always answers with one of its classes: an image of something else still gets a label/);
    assert.match(card, /\n- Its numbers hold for images like the training data/);
    assert.match(card, /\n- Not for decisions about people/);
    assert.match(card, /\n`labels\.json` \(when present\) lists the class names in the order of the output probabilities\.\n/);
    assert.match(card, /\nImages per class and split \(as edgetune used them; undecodable files left out\):\n/);
  });

  it('tags each format only when its file is there; a backbone line without a source has no trailing space', () => {
    const tags = (files: string[]) => lines(modelCard({ ...full, files })).find((l) => l.startsWith('tags:'));
    assert.equal(tags(['model.tflite', 'labels.json']), 'tags: [image-classification, edgetune, mobilenet_v2, tflite]');
    assert.equal(tags(['edgetune.json', 'labels.json']), 'tags: [image-classification, edgetune, mobilenet_v2]');
    assert.equal(tags(['model.onnx', 'model.tflite']), 'tags: [image-classification, edgetune, mobilenet_v2, onnx, tflite]');
    const card = lines(modelCard({ ...full, manifest: { id: 'x', name: 'X net', source: { package: 'pkg' } } as never }));
    assert.equal(card[card.indexOf('## Backbone') + 2], 'X net, from the `pkg` npm package.');
    const bare = lines(modelCard({ ...full, manifest: { id: 'x' } as never }));
    assert.equal(bare[bare.indexOf('## Backbone') + 2], 'x.');
  });
});
