// Per-folder and per-file mutation scores from StrykerJS's JSON report
// (.cache/stryker/mutation.json, which the incremental mode keeps whole across runs
// over different --mutate sets), as the Markdown table docs/mutation.md shows.
// Usage: node scripts/mutation-scores.mjs [report.json] [--files]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const path = args.find((a) => !a.startsWith('--')) ?? '.cache/stryker/mutation.json';
const perFile = args.includes('--files');
const report = JSON.parse(readFileSync(path, 'utf8'));

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);
const groups = new Map();
const add = (key, status) => {
  const g = groups.get(key) ?? { detected: 0, survived: 0, noCoverage: 0 };
  if (DETECTED.has(status)) g.detected++;
  else if (status === 'Survived') g.survived++;
  else if (status === 'NoCoverage') g.noCoverage++;
  groups.set(key, g);
};
/** The folder a file is scored under: train/ whole, model/'s subfolders apart, node/ per file. */
const folderOf = (file) => {
  const parts = file.split('/');
  if (parts[2] === 'train') return 'src/engine/train/';
  if (parts[2] === 'model') return parts.length > 4 ? `src/engine/model/${parts[3]}/` : 'src/engine/model/ (top level)';
  return file;
};
for (const [file, { mutants }] of Object.entries(report.files)) {
  for (const m of mutants) {
    if (!DETECTED.has(m.status) && !UNDETECTED.has(m.status)) continue;
    add(folderOf(file), m.status);
    if (file.startsWith('src/engine/model/')) add('src/engine/model/ (all)', m.status);
    if (perFile) add(file, m.status);
  }
}
console.log('| files | mutants | killed + timeout | survived | no coverage | score |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [key, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
  const total = g.detected + g.survived + g.noCoverage;
  console.log(`| \`${key}\` | ${total} | ${g.detected} | ${g.survived} | ${g.noCoverage} | ${((100 * g.detected) / total).toFixed(1)}% |`);
}
