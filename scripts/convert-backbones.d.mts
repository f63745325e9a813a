// Types of the helpers tests import from convert-backbones.mjs.
export function nsfwjsDir(): { dir: string; version: string };
export function loadBundled(dir: string): { modelJson: Record<string, unknown> & { weightsManifest: { paths: string[]; weights: unknown[] }[] }; buf: Buffer };
