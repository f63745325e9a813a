#!/usr/bin/env node
// edgetune command line: argument parsing, output modes and exit codes.
//   0 success, 1 failure (one line: "edgetune: <CODE>: <message>"), 2 usage error.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgetuneError } from '../errors.js';
import { evaluate, exportCmd, predict, train, type Output } from './commands.js';

const USAGE = `Usage:
  edgetune train <data> --out <model-dir> [--backbone <id|manifest.json>] [--strategy head|partial]
                 [--unfreeze-blocks N] [--backbone-lr X] [--partial-epochs N] [--prefix-cache-mb N]
                 [--epochs N] [--batch-size N] [--lr X] [--weight-decay X] [--augment K]
                 [--hidden N] [--dropout X] [--label-smoothing X] [--patience N] [--seed N]
                 [--no-refit] [--from <model-dir>] [--cache-dir DIR] [--strict] [--json]
  edgetune eval <model-dir> <data> [--json] [--strict]
  edgetune predict <model-dir> <image-or-dir>... [--top-k K] [--csv out.csv] [--json] [--strict]
  edgetune export <model-dir> --out <dir> [--merged] [--json]

<data> is an ImageFolder: <data>/<class>/<image> or <data>/{train,val,test}/<class>/<image>.
Unreadable images are skipped with a warning; --strict makes them an error.
With a validation set, training picks the epoch count on it, then refits on train + val
for that many epochs; --no-refit keeps the best-validation checkpoint instead.
--strategy partial then also trains the backbone's last blocks (--unfreeze-blocks 6:
MobileNetV2's 7x7 stage and the 14x14 stage's last two) with the head at --backbone-lr
(default: --lr) for --partial-epochs 20, keeping the best validation checkpoint, then
refits it on train + val.
--from <model-dir> continues from a trained model: its classes keep their weights, new ones are added.`;

const OPTIONS = {
  out: { type: 'string' },
  backbone: { type: 'string' },
  strategy: { type: 'string' },
  'unfreeze-blocks': { type: 'string' },
  'backbone-lr': { type: 'string' },
  'partial-epochs': { type: 'string' },
  'prefix-cache-mb': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  augment: { type: 'string' },
  hidden: { type: 'string' },
  dropout: { type: 'string' },
  'label-smoothing': { type: 'string' },
  patience: { type: 'string' },
  seed: { type: 'string' },
  'cache-dir': { type: 'string' },
  from: { type: 'string' },
  'top-k': { type: 'string' },
  csv: { type: 'string' },
  merged: { type: 'boolean', default: false },
  strict: { type: 'boolean', default: false },
  'no-refit': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsConfig['options'];

class UsageError extends Error {}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  return n;
}

function makeOutput(json: boolean): Output {
  const human = json ? process.stderr : process.stdout;
  return {
    json,
    log: (line) => human.write(line + '\n'),
    warn: (line) => process.stderr.write(`edgetune: warning: ${line}\n`),
    result: (value) => {
      if (json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`edgetune: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help || !command) {
    (v.help ? process.stdout : process.stderr).write(USAGE + '\n');
    return v.help ? 0 : 2;
  }
  const out = makeOutput(v.json);
  try {
    switch (command) {
      case 'train': {
        if (rest.length !== 1 || !v.out) throw new UsageError('train needs <data> and --out <model-dir>');
        if (v.strategy && v.strategy !== 'head' && v.strategy !== 'partial') {
          throw new UsageError(`--strategy must be 'head' or 'partial', got '${v.strategy}'`);
        }
        const cacheMb = num('prefix-cache-mb', v['prefix-cache-mb']);
        await train(
          {
            data: rest[0]!,
            out: v.out,
            strict: v.strict,
            ...(v.backbone ? { backbone: v.backbone } : {}),
            ...(v['cache-dir'] ? { cacheDir: v['cache-dir'] } : {}),
            ...(v.from ? { from: v.from } : {}),
            epochs: num('epochs', v.epochs),
            batchSize: num('batch-size', v['batch-size']),
            learningRate: num('lr', v.lr),
            weightDecay: num('weight-decay', v['weight-decay']),
            augment: num('augment', v.augment),
            hiddenUnits: num('hidden', v.hidden),
            dropout: num('dropout', v.dropout),
            labelSmoothing: num('label-smoothing', v['label-smoothing']),
            patience: num('patience', v.patience),
            seed: num('seed', v.seed),
            refit: !v['no-refit'],
            ...(v.strategy ? { strategy: v.strategy as 'head' | 'partial' } : {}),
            unfreezeBlocks: num('unfreeze-blocks', v['unfreeze-blocks']),
            backboneLearningRate: num('backbone-lr', v['backbone-lr']),
            partialEpochs: num('partial-epochs', v['partial-epochs']),
            prefixCacheBytes: cacheMb === undefined ? undefined : Math.round(cacheMb * 1024 * 1024),
          },
          out,
        );
        return 0;
      }
      case 'eval':
        if (rest.length !== 2) throw new UsageError('eval needs <model-dir> <data>');
        await evaluate({ model: rest[0]!, data: rest[1]!, strict: v.strict, ...(v.backbone ? { backbone: v.backbone } : {}) }, out);
        return 0;
      case 'predict':
        if (rest.length < 2) throw new UsageError('predict needs <model-dir> and at least one image or directory');
        await predict(
          {
            model: rest[0]!,
            inputs: rest.slice(1),
            topK: num('top-k', v['top-k']) ?? 3,
            strict: v.strict,
            ...(v.csv ? { csv: v.csv } : {}),
            ...(v.backbone ? { backbone: v.backbone } : {}),
          },
          out,
        );
        return 0;
      case 'export':
        if (rest.length !== 1 || !v.out) throw new UsageError('export needs <model-dir> and --out <dir>');
        await exportCmd({ model: rest[0]!, out: v.out, merged: v.merged, ...(v.backbone ? { backbone: v.backbone } : {}) }, out);
        return 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`edgetune: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    const code = err instanceof EdgetuneError ? err.code : 'INTERNAL';
    const msg = (err as Error)?.message ?? String(err);
    process.stderr.write(`edgetune: ${code}: ${msg.split('\n')[0]}\n`);
    if (out.json) process.stdout.write(JSON.stringify({ error: { code, message: msg } }) + '\n');
    return err instanceof EdgetuneError && err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

// Run when executed directly (dist/cli/main.js or via tsx), not when imported by tests.
const self = process.argv[1] ?? '';
if (/cli[/\\]main\.(js|ts)$/.test(self) || /[/\\]edgetune$/.test(self)) {
  // Exit explicitly once output is flushed: a stray handle (a worker thread of a
  // native library, a timer) must never keep a finished command hanging.
  main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)));
}
