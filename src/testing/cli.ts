// Runs the built command line (dist/cli/main.js, what `npx edgetune` runs) in
// this process, capturing what it writes: no process to spawn per case.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIST_MAIN = new URL('../../dist/cli/main.js', import.meta.url);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `edgetune ...args`; stderr is a log file (not a terminal) unless `tty`. */
export async function runCli(args: string[], tty = false): Promise<CliRun> {
  if (!existsSync(DIST_MAIN)) throw new Error(`${fileURLToPath(DIST_MAIN)} is missing: run npm run build (npm test builds first)`);
  const { main } = (await import(DIST_MAIN.href)) as typeof import('../cli/main.js');
  const r = { stdout: '', stderr: '' };
  const code = await main(args, { stdout: (t) => void (r.stdout += t), stderr: (t) => void (r.stderr += t), isTTY: tty });
  return { code, ...r };
}
