// The CLI's small guards on their own: CSV cells, terminal-safe names, a quiet console.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvCell, terminalSafe, withQuietConsole } from './guards.js';

describe('CLI guards', () => {
  it('csvCell: formula starters get an apostrophe, quoting follows RFC 4180, numbers stay numbers', () => {
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('+cmd'), "'+cmd");
    assert.equal(csvCell('-2'), "'-2");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('\tx'), "'\tx");
    assert.equal(csvCell('=a,b'), `"'=a,b"`);
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('birds'), 'birds');
    assert.equal(csvCell(-0.5), '-0.5');
    assert.equal(csvCell(undefined), '');
  });

  it('terminalSafe escapes ESC, line breaks and bidi overrides, and leaves other text alone', () => {
    assert.equal(terminalSafe('a\u001b[31mb\nc\u202ed'), 'a\\u001b[31mb\\u000ac\\u202ed');
    assert.equal(terminalSafe('ñandú 🐦/cats'), 'ñandú 🐦/cats');
  });

  it('withQuietConsole drops library console output while quiet, and restores the console after, even on error', async () => {
    const seen: string[] = [];
    const original = console.warn;
    console.warn = (m: string) => void seen.push(m);
    const spy = console.warn;
    try {
      await withQuietConsole(true, async () => console.warn('tfjs banner'));
      await assert.rejects(withQuietConsole(true, async () => Promise.reject(new Error('x'))));
      assert.equal(console.warn, spy, 'restored');
      await withQuietConsole(false, async () => console.warn('kept'));
    } finally {
      console.warn = original;
    }
    assert.deepEqual(seen, ['kept']);
  });
});

describe('the CLI full step memory', () => {
  it('is a quarter of the machine, from 1 to 4 GiB', async () => {
    const { cliFullStepMemory } = await import('./main.js');
    const GiB = 2 ** 30;
    assert.equal(cliFullStepMemory(24 * GiB), 4 * GiB);
    assert.equal(cliFullStepMemory(8 * GiB), 2 * GiB);
    assert.equal(cliFullStepMemory(2 * GiB), 1 * GiB);
  });
});
