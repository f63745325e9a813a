// The CLI's help texts: one per command, and the overview.
import { STRATEGY_IDS, STRATEGY_INFO } from '../engine/train/strategies/info.js';

export const COMMANDS = ['train', 'eval', 'predict', 'export', 'inspect'] as const;
export type Command = (typeof COMMANDS)[number];

const COMMON = `Common options:
  --json          one JSON object on stdout (human lines go to stderr)
  --quiet         no progress and no informational lines (warnings and errors still print)
  --strict        an unreadable image is an error instead of a skipped warning
  --backbone B    bundled id or manifest.json (default: the one the model was trained on)
  --runtime R     who runs the frozen backbone and the trained layers' matrix products:
                  auto (onnxruntime-node when installed, else tfjs; the default), onnxruntime, tfjs
  --threads N     threads for training and the backbone (default: $EDGETUNE_THREADS,
                  else every core, 8 at most for WASM)
  -h, --help      this help          --version   the edgetune version`;

export const HELP: Record<Command, string> = {
  train: `Usage: edgetune train <data> --out <model-dir> [options]

Trains a classifier on an ImageFolder: <data>/<class>/<image> or
<data>/{train,val,test}/<class>/<image>. A val folder is the validation set
(else 15% of each class); with a test folder, test accuracy is reported and stored.
--out must be a new folder, an empty one or an edgetune model folder (replaced
whole, its cache kept); a folder holding anything else is refused.

  --strategy ${STRATEGY_IDS.join('|')}  (default head)
${STRATEGY_IDS.map((id) => `      ${id.padEnd(8)} ${STRATEGY_INFO[id].summary}`).join('\n')}
  --unfreeze-blocks N       blocks unfrozen by partial (default ${STRATEGY_INFO.partial.defaults!.unfreezeBlocks}: MobileNetV2's 7x7 stage
                            and the 14x14 stage's last two)
  --backbone-lr X           the backbone's learning rate (default: partial --lr, full --lr / 10)
  --partial-epochs N        epochs of the backbone stage (default: partial ${STRATEGY_INFO.partial.defaults!.epochs}, full ${STRATEGY_INFO.full.defaults!.epochs})
  --partial-schedule S      direct (default): the backbone trains once, on train + val;
                            select: best-validation checkpoint of a run on train;
                            select-refit: select, then again on train + val (twice the time)
  --prefix-cache-mb N       memory for the activations the trained layers read (default 256)
  --step-memory-mb N        most memory one training step may hold (default: partial 4096,
                            full a quarter of this machine's memory, 1024 to 4096): larger
                            batches run in parts with their gradients summed
  --epochs N  --batch-size N  --lr X  --weight-decay X  --augment K|auto
  --hidden N  --dropout X  --label-smoothing X  --patience N  --seed N
  --no-refit                keep the best-validation checkpoint instead of refitting on train + val
  --from <model-dir>        continue from a trained model (its classes keep their weights)
  --cache-dir DIR           embedding cache (default <model-dir>/cache)
  --no-cache                compute every embedding, store none

${COMMON}`,
  eval: `Usage: edgetune eval <model-dir> <data> [options]

Accuracy, per-class precision/recall/F1 and the confusion matrix on <data>/test,
or on every <data>/<class> of a folder without splits. Exits 1 when no image
could be read.

  --cache-dir DIR   embedding cache to read and fill (default <model-dir>/cache)
  --no-cache        compute every embedding, store none

${COMMON}`,
  predict: `Usage: edgetune predict <model-dir> <image-or-dir>... [options]

Top-k classes for each image (directories are searched recursively; a file
given twice is predicted once). Exits 1 when no image could be read.

  --top-k K         classes per image (default 3)
  --csv FILE        write path,label,probability,top1_label,top1_probability,...
  --cache-dir DIR   embedding cache to read and fill (default <model-dir>/cache)
  --no-cache        compute every embedding, store none

${COMMON}`,
  export: `Usage: edgetune export <model-dir> --out <dir> [options]

Rewrites a model directory; --merged adds merged/model.json, backbone and head
in one tfjs graph model that tf.loadGraphModel runs without edgetune.
--format onnx writes <dir>/model.onnx instead: backbone, fine-tuned tail, head
and softmax for ONNX Runtime (input "image" uint8 [n, height, width, 3] RGB of
any size, resized inside; output "probabilities" [n, classes]).
--format tflite writes <dir>/model.tflite for LiteRT / TensorFlow Lite (input
"image" float32 [1, 224, 224, 3] RGB 0..255, already resized as docs/exports.md
shows; output "probabilities" [1, classes]). Both write labels.json beside.

  --merged
  --format edgetune|onnx|tflite   (default edgetune)
  --int8                  onnx/tflite: int8 weights and activations, about a quarter
                          of the size (needs --calibration)
  --calibration DATA      an ImageFolder whose training images calibrate --int8
  --calibration-images N  how many of them, taken in turn from each class (default 64)

${COMMON}`,
  inspect: `Usage: edgetune inspect <data> [options]

What is wrong with an ImageFolder and what to add next, from one embedding per
image: exact and near duplicates (those across train/val/test first), likely
label errors (confident learning on 5-fold heads), outliers, confusable classes,
per-class advice, and with --pool the order to label new images in. Embeddings
are cached (default $XDG_CACHE_HOME/edgetune/embeddings): a second run makes no
backbone pass.

  --pool DIR          unlabelled images to rank for labelling (searched recursively)
  --threshold X       copy score for near duplicates, aligned thumbnails (default 0.9)
  --folds K           folds of the out-of-fold heads (default 5)
  --cache-dir DIR     embedding cache to read and fill
  --no-cache          compute every embedding, store none

${COMMON}`,
};

export const OVERVIEW = `Usage: edgetune <command> [options]

Commands:
  train <data> --out <model-dir>         train on an ImageFolder
  eval <model-dir> <data>                score a model on labelled images
  predict <model-dir> <image-or-dir>...  classify images
  inspect <data>                         duplicates, likely label errors, outliers, what to add
  export <model-dir> --out <dir>         rewrite a model (--merged: one tfjs graph model;
                                         --format onnx|tflite: model.onnx for ONNX
                                         Runtime, model.tflite for LiteRT)

edgetune <command> --help describes each command's options.
Exit codes: 0 success, 1 failure (one line: "edgetune: <CODE>: <message>"), 2 usage error.`;
