// The model card (README.md) beside every export, in the Hugging Face layout:
// YAML front matter with the metrics (model-index), then prose for people: what
// the model recognises, the data, the held-out metrics, intended use and limits,
// how to run each file in the folder, and where the backbone comes from.
import { EDGETUNE_VERSION } from '../../constants.js';
import type { ModelEvaluation, ModelMetadata } from '../../types.js';
import type { BackboneManifest } from './manifest.js';

export interface CardInput {
  labels: readonly string[];
  manifest: BackboneManifest;
  files: readonly string[];
  training?: ModelMetadata['training'];
  evaluation?: ModelEvaluation;
  /** int8 files: their accuracy may differ slightly from the float model's the metrics describe. */
  int8?: boolean;
  /** Whether a fine-tuned tail (partial or full) ships with the head. */
  tail: { unfreezeBlocks: number | 'all' } | null;
}

const round = (x: number) => Number(x.toFixed(4));
/** A YAML double-quoted scalar (JSON strings are valid YAML). */
const q = (s: string) => JSON.stringify(s);
/** Markdown table cells: no pipes or line breaks from class names. */
const cell = (s: string) => s.replace(/[|\\]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');

function frontMatter(c: CardInput): string {
  const e = c.evaluation;
  const lines = [
    '---',
    'library_name: edgetune',
    'pipeline_tag: image-classification',
    `tags: [image-classification, edgetune, ${c.manifest.id}${c.files.some((f) => f.endsWith('.onnx')) ? ', onnx' : ''}${c.files.some((f) => f.endsWith('.tflite')) ? ', tflite' : ''}]`,
    `license: other  # ${c.manifest.license ?? 'see the backbone section'}`,
  ];
  if (e) {
    lines.push(
      'model-index:',
      `  - name: ${q(`edgetune ${c.manifest.id} (${c.labels.length} classes)`)}`,
      '    results:',
      '      - task: { type: image-classification }',
      `        dataset: { name: ${q(e.dataset ?? 'user images')}, type: imagefolder, split: ${q(e.split)} }`,
      '        metrics:',
      `          - { type: accuracy, value: ${round(e.accuracy)} }`,
      ...e.perClass.map((p) => `          - { type: recall, name: ${q(`recall (${p.label})`)}, value: ${round(p.recall)} }`),
    );
  }
  lines.push('---');
  return lines.join('\n');
}

function dataSection(c: CardInput): string[] {
  const counts = c.training?.counts;
  if (!counts) return ['## Training data', '', 'Not recorded with this model (exported by an older edgetune, or loaded without its training metadata).'];
  const test = new Map(c.evaluation?.perClass.map((p) => [p.label, p.support]));
  const rows = c.labels.map((l) => `| ${cell(l)} | ${counts[l]?.train ?? 0} | ${counts[l]?.val ?? 0} | ${c.evaluation ? (test.get(l) ?? 0) : '-'} |`);
  return ['## Training data', '', 'Images per class and split (as edgetune used them; undecodable files left out):', '', '| class | train | validation | test |', '|---|---:|---:|---:|', ...rows];
}

function evaluationSection(c: CardInput): string[] {
  const e = c.evaluation;
  if (!e) return ['## Evaluation', '', 'No held-out evaluation was recorded: pass `evaluation` to export (the CLI does when the data has a test split).'];
  const rows = e.perClass.map((p) => `| ${cell(p.label)} | ${p.precision.toFixed(3)} | ${p.recall.toFixed(3)} | ${p.f1.toFixed(3)} | ${p.support} |`);
  return [
    '## Evaluation',
    '',
    `On the ${e.split} split${e.dataset ? ` of ${e.dataset}` : ''} (${e.n} images, none seen in training): accuracy **${(e.accuracy * 100).toFixed(1)}%**${e.ece !== undefined ? `, expected calibration error ${e.ece.toFixed(3)}` : ''}.`,
    '',
    '| class | precision | recall | F1 | images |',
    '|---|---:|---:|---:|---:|',
    ...rows,
  ];
}

const SNIPPETS: Record<string, string[]> = {
  'model.onnx': ['`model.onnx` in ONNX Runtime (input `image`: uint8 RGB `[n, height, width, 3]` of any size; the model resizes):', '', '```js', "import * as ort from 'onnxruntime-node';", "const session = await ort.InferenceSession.create('model.onnx');", "const { probabilities } = await session.run({ image: new ort.Tensor('uint8', rgb, [1, height, width, 3]) });", '```', '', 'More (web, Python): edgetune\'s docs/onnx.md.'],
  'model.tflite': ['`model.tflite` in LiteRT (input `image`: float32 RGB 0..255 `[1, 224, 224, 3]`, resized as edgetune\'s docs/tflite.md shows):', '', '```js', "import { loadLiteRt, loadAndCompile, Tensor } from '@litertjs/core';", "await loadLiteRt('/litert-wasm/');", "const model = await loadAndCompile('model.tflite', { accelerator: 'wasm' });", 'const [probabilities] = await model.run(new Tensor(toModelInput(rgb, width, height), [1, 224, 224, 3]));', '```', '', 'Android, iOS and Python: edgetune\'s docs/tflite.md.'],
  'edgetune.json': ['This folder in edgetune (Node: `edgetune predict <this-folder> photo.jpg`; in a page:)', '', '```js', "import { createClassifier } from 'edgetune';", 'const clf = await createClassifier();', "await clf.load('/path/to/this-folder/');", 'const [top] = await clf.predict(imageBitmap);', '```'],
};

function usageSection(c: CardInput): string[] {
  const own = c.files.filter((f) => SNIPPETS[f]).flatMap((f) => ['', ...SNIPPETS[f]!]);
  return ['## How to run it', ...own, '', '`labels.json` (when present) lists the class names in the order of the output probabilities.'];
}

function backboneSection(m: BackboneManifest): string[] {
  const s = m.source ?? {};
  return [
    '## Backbone',
    '',
    `${m.name ?? m.id}${s.package ? `, from the \`${s.package}\` npm package${s.version ? ` ${s.version}` : ''}${s.path ? ` (\`${s.path}\`)` : ''}` : ''}. ${s.upstream ? `${s.upstream.replace(/\.?$/, '.')}` : ''}`.trim(),
    '',
    `License: ${m.license ?? 'not stated in its manifest'}. The weights were trained by others for another task (an NSFW classifier's base); edgetune trains only what its strategy unfreezes.`,
  ];
}

export function modelCard(c: CardInput): string {
  const cfg = c.training?.config;
  const strategy = c.tail ? (c.tail.unfreezeBlocks === 'all' ? 'full fine-tuning (every layer, the backbone at a lower learning rate)' : `partial fine-tuning (the last ${c.tail.unfreezeBlocks} blocks and the head)`) : 'a new head on the frozen backbone';
  return [
    frontMatter(c),
    '',
    `# Image classifier: ${c.labels.map((l) => cell(l)).join(', ')}`,
    '',
    `Recognises ${c.labels.length} classes in photos: ${c.labels.map((l) => `\`${cell(l)}\``).join(', ')}. Trained on the owner's device with edgetune ${EDGETUNE_VERSION} by ${strategy} on ${c.manifest.id}${cfg ? ` (seed ${cfg.seed}, ${c.training!.epochsRun} head epochs, best at epoch ${c.training!.bestEpoch})` : ''}.`,
    '',
    ...(c.int8 ? ['The model files are int8, calibrated on the training images: the metrics below are the float model\'s; int8 kept accuracy within half a point on edgetune\'s dev sets (docs/int8.md), and some individual answers differ.', ''] : []),
    ...dataSection(c),
    '',
    ...evaluationSection(c),
    '',
    '## Intended use and limits',
    '',
    `- Meant for: sorting photos like the ones it was trained on into these ${c.labels.length} classes, on the device that runs it.`,
    '- It always answers with one of its classes: an image of something else still gets a label (edgetune\'s own runtime can reject unknown inputs with its open-set threshold; the standalone files cannot).',
    '- Its numbers hold for images like the training data (same camera, light, framing); a small test split gives a wide margin of error. Re-evaluate on your own held-out images before relying on it.',
    '- Not for decisions about people (identity, health, safety): it was not built or tested for them.',
    '',
    ...usageSection(c),
    '',
    ...backboneSection(c.manifest),
    '',
  ].join('\n');
}
