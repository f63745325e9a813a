// axe-core (the accessibility engine browsers' devtools use) on the demo's first
// screen, at desktop and phone size: no rule violation.
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDemo } from '../scripts/build-demo.mjs';
import { serve } from '../scripts/serve.mjs';
import { ROOT, axe, launch } from './harness.mjs';

describe('the demo under axe-core', () => {
  let server;
  before(async () => {
    await buildDemo({ quiet: true });
    server = await serve(join(ROOT, 'demo/dist'), { index: 'index.html' });
  });
  after(() => server?.close());

  for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 360, height: 740 }]]) {
    it(`first screen, ${name}: no violation`, async () => {
      const context = await launch();
      try {
        const page = await context.newPage();
        await page.setViewportSize(viewport);
        await page.goto(`${server.url}/`);
        await page.waitForSelector('#add-class');
        await axe(page, `empty, ${name}`);
      } finally {
        await context.close();
      }
    });
  }
});
