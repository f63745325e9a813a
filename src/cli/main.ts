#!/usr/bin/env node
// edgetune command line: argument parsing, output modes and exit codes.
//   0 success, 1 failure (one line: "edgetune: <CODE>: <message>"), 2 usage error.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgetuneError } from '../errors.js';
import { PARTIAL_SCHEDULES } from '../engine/config.js';
import type { PartialSchedule, Strategy } from '../types.js';
import { STRATEGY_IDS } from '../engine/train/strategies/info.js';
import { EXPORT_FORMATS, type ExportFormat } from '../engine/model/export-formats.js';
import { evaluate, predict, train, type Output, type Runtime } from './commands.js';
import { exportCmd } from './export-command.js';
import { inspectCmd } from './inspect-command.js';
import { COMMANDS, HELP, OVERVIEW, type Command } from './usage.js';
import { withQuietConsole } from './guards.js';

const OPTIONS = {
  out: { type: 'string' },
  backbone: { type: 'string' },
  strategy: { type: 'string' },
  'unfreeze-blocks': { type: 'string' },
  'backbone-lr': { type: 'string' },
  'partial-epochs': { type: 'string' },
  'prefix-cache-mb': { type: 'string' },
  'step-memory-mb': { type: 'string' },
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
  'no-cache': { type: 'boolean', default: false },
  from: { type: 'string' },
  'top-k': { type: 'string' },
  csv: { type: 'string' },
  merged: { type: 'boolean', default: false },
  format: { type: 'string' },
  int8: { type: 'boolean', default: false },
  pool: { type: 'string' },
  threshold: { type: 'string' },
  folds: { type: 'string' },
  calibration: { type: 'string' },
  'calibration-images': { type: 'string' },
  runtime: { type: 'string' },
  threads: { type: 'string' },
  strict: { type: 'boolean', default: false },
  'no-refit': { type: 'boolean', default: false },
  'partial-schedule': { type: 'string' },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  version: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Where the CLI writes: the process's streams, or buffers in tests. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal: progress bars redraw in place; otherwise one line per phase. */
  isTTY: boolean;
}

const processIO = (): CliIO => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: process.stderr.isTTY === true,
});

class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: Command,
  ) {
    super(message);
  }
}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${v}'`);
  return n;
}

/**
 * --threads, else EDGETUNE_THREADS (for containers, whose CPU quota os.availableParallelism
 * does not see, and for several runs sharing a machine), else every core.
 */
function threadCount(v: Values, command: Command): number | undefined {
  const [name, raw] = v.threads !== undefined ? ['--threads', v.threads] : ['EDGETUNE_THREADS', process.env.EDGETUNE_THREADS];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1)) throw new UsageError(`${name} must be a whole number of at least 1, got '${raw}'`, command);
  return n;
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function makeOutput(v: Values, io: CliIO): Output {
  const warned = new Set<string>();
  return {
    json: v.json,
    quiet: v.quiet,
    io: { write: io.stderr, isTTY: io.isTTY },
    // stdout holds results only (JSON, predictions, the evaluation table): scripts can read it.
    log: (line) => v.quiet || io.stderr(line + '\n'),
    // Once per message: a file given or found twice is one problem, not two.
    warn: (line) => {
      if (warned.has(line)) return;
      warned.add(line);
      io.stderr(`edgetune: warning: ${line}\n`);
    },
    print: (line) => io.stdout(line + '\n'),
    result: (value) => {
      if (v.json) io.stdout(JSON.stringify(value, null, 2) + '\n');
    },
  };
}

/** The model-reading commands' cache: --no-cache, --cache-dir, else the one train wrote beside the model. */
const cacheOf = (v: Values): { cacheDir?: string; noCache: boolean } => ({ ...(v['cache-dir'] ? { cacheDir: v['cache-dir'] } : {}), noCache: v['no-cache'] });

async function runCommand(command: Command, rest: string[], v: Values, out: Output): Promise<void> {
  if (v.runtime !== undefined && !['auto', 'onnxruntime', 'tfjs'].includes(v.runtime)) throw new UsageError(`--runtime is 'auto', 'onnxruntime' or 'tfjs', not '${v.runtime}'`, command);
  const threads = threadCount(v, command);
  const backbone = {
    ...(v.backbone ? { backbone: v.backbone } : {}),
    ...(v.runtime ? { runtime: v.runtime as Runtime } : {}),
    ...(threads !== undefined ? { threads } : {}),
  };
  switch (command) {
    case 'train': {
      if (rest.length !== 1 || !v.out) throw new UsageError('train needs <data> and --out <model-dir>', command);
      if (v.strategy && !STRATEGY_IDS.includes(v.strategy as Strategy)) {
        throw new UsageError(`--strategy must be one of ${STRATEGY_IDS.join(', ')}, got '${v.strategy}'`, command);
      }
      if (v['partial-schedule'] !== undefined && !PARTIAL_SCHEDULES.includes(v['partial-schedule'] as PartialSchedule)) {
        throw new UsageError(`--partial-schedule must be one of ${PARTIAL_SCHEDULES.join(', ')}, got '${v['partial-schedule']}'`, command);
      }
      const strategy = (v.strategy ?? 'head') as Strategy;
      const mb = (name: string) => {
        const x = num(name, v[name as keyof typeof v] as string | undefined);
        return x === undefined ? undefined : Math.round(x * 1024 * 1024);
      };
      // The flat flags are the chosen strategy's group options.
      const group = {
        ...(strategy === 'partial' ? { unfreezeBlocks: num('unfreeze-blocks', v['unfreeze-blocks']) } : {}),
        learningRate: num('backbone-lr', v['backbone-lr']),
        epochs: num('partial-epochs', v['partial-epochs']),
        ...(v['partial-schedule'] !== undefined ? { schedule: v['partial-schedule'] as PartialSchedule } : {}),
        cacheBytes: mb('prefix-cache-mb'),
        // Full: the machine's budget rather than a browser tab's (a larger pass is faster: docs/strategies.md).
        stepMemoryBytes: mb('step-memory-mb') ?? (strategy === 'full' ? cliFullStepMemory() : undefined),
      };
      if (strategy !== 'partial' && v['unfreeze-blocks'] !== undefined) throw new UsageError('--unfreeze-blocks applies to --strategy partial', command);
      return train(
        {
          data: rest[0]!,
          out: v.out,
          strict: v.strict,
          ...backbone,
          ...(v['cache-dir'] ? { cacheDir: v['cache-dir'] } : {}),
          ...(v['no-cache'] ? { noCache: true } : {}),
          ...(v.from ? { from: v.from } : {}),
          epochs: num('epochs', v.epochs),
          batchSize: num('batch-size', v['batch-size']),
          learningRate: num('lr', v.lr),
          weightDecay: num('weight-decay', v['weight-decay']),
          augment: v.augment === 'auto' ? 'auto' : num('augment', v.augment),
          hiddenUnits: num('hidden', v.hidden),
          dropout: num('dropout', v.dropout),
          labelSmoothing: num('label-smoothing', v['label-smoothing']),
          patience: num('patience', v.patience),
          seed: num('seed', v.seed),
          refit: !v['no-refit'],
          strategy,
          ...(strategy === 'head' ? {} : { [strategy]: Object.fromEntries(Object.entries(group).filter(([, x]) => x !== undefined)) }),
        },
        out,
      );
    }
    case 'inspect': {
      if (rest.length !== 1) throw new UsageError('inspect needs <data>', command);
      const folds = num('folds', v.folds);
      const threshold = num('threshold', v.threshold);
      if (folds !== undefined && (!Number.isInteger(folds) || folds < 2 || folds > 20)) throw new UsageError(`--folds must be an integer from 2 to 20, got ${folds}`, command);
      if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) throw new UsageError(`--threshold must be in (0, 1], got ${threshold}`, command);
      return inspectCmd(
        {
          data: rest[0]!,
          strict: v.strict,
          ...backbone,
          ...cacheOf(v),
          ...(v.pool ? { pool: v.pool } : {}),
          ...(threshold !== undefined ? { threshold } : {}),
          ...(folds !== undefined ? { folds } : {}),
        },
        out,
      );
    }
    case 'eval':
      if (rest.length !== 2) throw new UsageError('eval needs <model-dir> <data>', command);
      return evaluate({ model: rest[0]!, data: rest[1]!, strict: v.strict, ...backbone, ...cacheOf(v) }, out);
    case 'predict':
      if (rest.length < 2) throw new UsageError('predict needs <model-dir> and at least one image or directory', command);
      return predict(
        { model: rest[0]!, inputs: rest.slice(1), topK: num('top-k', v['top-k']) ?? 3, strict: v.strict, ...(v.csv ? { csv: v.csv } : {}), ...backbone, ...cacheOf(v) },
        out,
      );
    case 'export':
      if (rest.length !== 1 || !v.out) throw new UsageError('export needs <model-dir> and --out <dir>', command);
      if (v.format !== undefined && !(EXPORT_FORMATS as readonly string[]).includes(v.format)) throw new UsageError(`--format is one of ${EXPORT_FORMATS.join(', ')}, not '${v.format}'`, command);
      if (v.format && v.format !== 'edgetune' && v.merged) throw new UsageError('--merged applies to the edgetune format only', command);
      if (v.int8 && (v.format ?? 'edgetune') === 'edgetune') throw new UsageError('--int8 applies to --format onnx or tflite', command);
      if (v.int8 !== Boolean(v.calibration)) throw new UsageError('--int8 and --calibration <data> go together: int8 is calibrated on the training images of <data>', command);
      return exportCmd(
        {
          model: rest[0]!,
          out: v.out,
          merged: v.merged,
          format: (v.format ?? 'edgetune') as ExportFormat,
          int8: v.int8,
          ...(v.calibration ? { calibration: v.calibration } : {}),
          ...(v['calibration-images'] !== undefined ? { calibrationImages: num('calibration-images', v['calibration-images'])! } : {}),
          ...backbone,
        },
        out,
      );
  }
}

/** The CLI's full-strategy step memory: a quarter of the machine's memory, at most 4 GiB (the SDK's default is 1 GiB). */
export function cliFullStepMemory(total = totalmem()): number {
  return Math.max(2 ** 30, Math.min(4 * 2 ** 30, Math.floor(total / 4)));
}

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const command = COMMANDS.find((c) => c === argv[0]);
    io.stderr(`edgetune: ${(err as Error).message}\n\n${command ? HELP[command] : OVERVIEW}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (v.version) {
    io.stdout(`edgetune ${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c === name);
  if (v.help) {
    io.stdout((command ? HELP[command] : OVERVIEW) + '\n');
    return 0;
  }
  if (!command) {
    io.stderr(`${name ? `edgetune: unknown command '${name}'\n\n` : ''}${OVERVIEW}\n`);
    return 2;
  }
  const out = makeOutput(v, io);
  try {
    await withQuietConsole(v.quiet, () => runCommand(command, rest, v, out));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`edgetune: ${err.message}\n\n${HELP[err.command ?? command]}\n`);
      return 2;
    }
    const code = err instanceof EdgetuneError ? err.code : 'INTERNAL';
    const msg = (err as Error)?.message ?? String(err);
    io.stderr(`edgetune: ${code}: ${msg.split('\n')[0]}\n`);
    if (v.json) io.stdout(JSON.stringify({ error: { code, message: msg } }) + '\n');
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
