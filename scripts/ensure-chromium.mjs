// Makes sure the e2e suites have a Chromium to drive. playwright-core never
// downloads a browser (nothing but the npm registry and Debian's repositories is
// reachable), so the test command installs Debian's chromium when it is missing
// and it may (root with apt-get); otherwise it stops with the one command to run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first of `names` on PATH, or null. */
function which(names, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const n of names) if (executable(join(dir, n))) return join(dir, n);
  }
  return null;
}

/** Where Chromium is: CHROMIUM_PATH, Debian's /usr/bin/chromium, or chromium on PATH; null when none. */
export function findChromium(env = process.env, defaultPath = DEFAULT_CHROMIUM) {
  if (env.CHROMIUM_PATH) return executable(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : null;
  if (executable(defaultPath)) return defaultPath;
  return which(['chromium', 'chromium-browser'], env.PATH);
}

/**
 * Returns Chromium's path, installing Debian's package first when it is missing
 * and this process may (root, apt-get on PATH). Otherwise returns
 * `{ error }`: one line that names the command to run.
 */
export function ensureChromium({ env = process.env, uid = process.getuid?.(), log = console.log, install = aptInstall, defaultPath = DEFAULT_CHROMIUM } = {}) {
  const found = findChromium(env, defaultPath);
  if (found) return { path: found };
  if (env.CHROMIUM_PATH) return { error: `CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file: point it at a Chromium binary, or unset it and run \`sudo apt-get install chromium\`` };
  const apt = which(['apt-get'], env.PATH);
  if (uid === 0 && apt) {
    log(`[edgetune] Chromium is missing: installing Debian's chromium with ${apt} (once per machine)`);
    const ok = install(apt, env);
    const after = ok ? findChromium(env, defaultPath) : null;
    if (after) return { path: after };
    return { error: 'installing chromium with apt-get failed (see its output above): run `apt-get update && apt-get install -y chromium` and retry, or set CHROMIUM_PATH' };
  }
  const how = apt ? '`sudo apt-get install chromium`' : "your system's package manager (Debian/Ubuntu: `sudo apt-get install chromium`)";
  return { error: `the e2e tests need Chromium and none was found: install it with ${how}, or set CHROMIUM_PATH to a Chromium binary` };
}

function aptInstall(apt, env) {
  // apt's progress lines are noise in a test log; its errors (stderr) stay visible.
  const opts = { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } };
  return spawnSync(apt, ['update', '-qq'], opts).status === 0 && spawnSync(apt, ['install', '-y', '-qq', 'chromium'], opts).status === 0;
}
