// mkdirs creates missing levels and fails, rather than spinning, where the kernel refuses.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mkdirs } from './mkdirs.js';

describe('mkdirs', () => {
  it('creates every missing level, and is a no-op on an existing folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgetune-mkdirs-'));
    try {
      await mkdirs(join(dir, 'a', 'b', 'c'));
      assert.ok((await stat(join(dir, 'a', 'b', 'c'))).isDirectory());
      await mkdirs(join(dir, 'a', 'b', 'c'));
      await writeFile(join(dir, 'file'), 'x');
      await assert.rejects(mkdirs(join(dir, 'file', 'sub')), { code: 'ENOTDIR' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails at once under /proc, where Node's recursive mkdir retries forever", { timeout: 5000 }, async () => {
    await assert.rejects(mkdirs('/proc/edgetune-x/cache'), { code: 'ENOENT' });
    assert.ok(!existsSync('/proc/edgetune-x'));
  });
});
