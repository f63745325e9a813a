// Progress bars on stderr (stdout stays clean for --json), via cli-progress.
import cliProgress from 'cli-progress';

export interface Bar {
  update(value: number, total: number, info?: string): void;
  stop(): void;
}

/** A progress bar, or a no-op when `quiet`. Non-TTY output prints a line every few seconds. */
export function createBar(label: string, quiet: boolean): Bar {
  if (quiet) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(9)} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted} | {info}`,
      stream: process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 5000,
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
