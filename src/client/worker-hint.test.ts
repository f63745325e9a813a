// What a failed worker start tells the user: the URL, and the one thing to change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerStartHint } from './classifier.js';

describe('workerStartHint', () => {
  it("names Vite's optimizeDeps line when the module was moved into .vite/deps", () => {
    assert.match(workerStartHint(undefined, 'http://localhost:5173/node_modules/.vite/deps/edgetune.js?v=1'), /optimizeDeps: \{ exclude: \['edgetune'\] \}/);
  });
  it('names the module the worker was resolved beside, and workerUrl', () => {
    const hint = workerStartHint(undefined, 'https://cdn.example/edgetune/dist/index.js');
    assert.match(hint, /beside https:\/\/cdn\.example\/edgetune\/dist\/index\.js/);
    assert.match(hint, /workerUrl/);
    assert.doesNotMatch(hint, /optimizeDeps/);
  });
  it('names a given workerUrl', () => {
    assert.match(workerStartHint('/static/edgetune-worker.js', 'http://x/app.js'), /workerUrl \(\/static\/edgetune-worker\.js\)/);
  });
});
