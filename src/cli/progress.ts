// Progress on stderr (stdout stays clean for --json and CSV): a live bar on a
// terminal (cli-progress), one line per finished phase in logs and pipes.
import cliProgress from 'cli-progress';

export interface ProgressIO {
  write(text: string): void;
  /** A terminal that redraws in place; otherwise each phase prints one line when it ends. */
  isTTY: boolean;
}

export interface Bar {
  update(value: number, total: number, info?: string): void;
  /** Ends the phase: clears nothing on a TTY (the bar stays), prints its one line off a TTY. */
  stop(): void;
}

const noop: Bar = { update() {}, stop() {} };

/** A progress bar for one phase, or a no-op when `quiet`. */
export function createBar(label: string, quiet: boolean, io: ProgressIO = stderrIO()): Bar {
  if (quiet) return noop;
  return io.isTTY ? ttyBar(label) : lineBar(label, io);
}

function stderrIO(): ProgressIO {
  return { write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY === true };
}

/** Off a terminal: remembers the latest state and prints it once, when the phase ends. */
function lineBar(label: string, io: ProgressIO): Bar {
  let last: { value: number; total: number; info: string } | null = null;
  return {
    update(value, total, info = '') {
      last = { value, total, info };
    },
    stop() {
      if (last) io.write(`${label} ${last.value}/${last.total}${last.info ? ` ${last.info}` : ''}\n`);
      last = null;
    },
  };
}

/** On a terminal: cli-progress redraws one line in place on stderr. */
function ttyBar(label: string): Bar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(9)} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted} | {info}`,
      stream: process.stderr,
      hideCursor: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value, total, info = '') {
      if (!started) {
        bar.start(total, value, { info });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(value, { info });
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/**
 * Progress across phases that follow each other (embed, then each training
 * stage): a new phase label ends the previous phase's bar.
 */
export class PhaseProgress {
  private current: { label: string; bar: Bar } | null = null;

  constructor(
    private readonly quiet: boolean,
    private readonly io?: ProgressIO,
  ) {}

  update(label: string, value: number, total: number, info?: string): void {
    if (this.current?.label !== label) {
      this.current?.bar.stop();
      this.current = { label, bar: createBar(label, this.quiet, this.io) };
    }
    this.current.bar.update(value, total, info);
  }

  /** Ends the running phase (prints its line off a TTY); call before other output and in finally. */
  end(): void {
    this.current?.bar.stop();
    this.current = null;
  }
}
