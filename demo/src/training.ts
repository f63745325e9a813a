// Training: options from the form, progress and live charts, Stop.
import { EdgetuneError, type Strategy, type TrainingReport } from 'edgetune';
// The SDK's strategy table (names, summaries, defaults; no tfjs), as the CLI's help reads it.
import { STRATEGY_IDS, STRATEGY_INFO } from '../../src/engine/train/strategies/info.js';
import { announce, app, camera, MODEL_URL, refreshButtons, setPhase, setStatus, state, ui } from './app.js';
import { curveSummary, drawChart } from './chart.js';
import { liveLoop } from './predict.js';

/** Fills the strategy selector from the SDK's table. */
export function strategyOptions(): void {
  ui.strategy.replaceChildren(...STRATEGY_IDS.map((id) => new Option(STRATEGY_INFO[id].title[0]!.toUpperCase() + STRATEGY_INFO[id].title.slice(1), id)));
  showStrategy();
}

/** The chosen strategy's summary, and its backbone epochs (at its default) when it trains backbone layers. */
export function showStrategy(): void {
  const info = STRATEGY_INFO[ui.strategy.value as Strategy];
  ui.strategySummary.textContent = info.summary[0]!.toUpperCase() + info.summary.slice(1) + '.';
  ui.partialEpochsField.hidden = !info.defaults;
  if (info.defaults) ui.partialEpochs.value = String(info.defaults.epochs);
}

export async function train(): Promise<void> {
  const strategy = ui.strategy.value as Strategy;
  const controller = new AbortController();
  state.training = controller;
  setPhase('training');
  const curves = { loss: [] as number[], valLoss: [] as (number | undefined)[], acc: [] as number[], valAcc: [] as (number | undefined)[] };
  const redraw = () => {
    drawChart(ui.chartLoss, [
      { name: 'train', color: '#1b4d3e', values: curves.loss },
      { name: 'validation', color: '#b35900', values: curves.valLoss, dashed: true },
    ]);
    drawChart(ui.chartAcc, [
      { name: 'train', color: '#1b4d3e', values: curves.acc },
      { name: 'validation', color: '#b35900', values: curves.valAcc, dashed: true },
    ], 1);
    ui.chartSummary.textContent = curveSummary(curves);
  };
  redraw();
  try {
    const report: TrainingReport = await app.clf.fineTune({
      strategy,
      epochs: clampInt(ui.epochs, 1, 500),
      ...(strategy !== 'head' ? { [strategy]: { epochs: clampInt(ui.partialEpochs, 1, 200) } } : {}),
      augment: clampInt(ui.augment, 0, 8),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'embed') {
          ui.progress.value = 0.3 * (p.done / Math.max(1, p.total));
          ui.trainStatus.textContent = `Computing features: ${p.done}/${p.total} (${p.cacheHits} cached)`;
        } else if (p.phase === 'train') {
          ui.progress.value = 0.3 + 0.7 * (p.epoch / p.epochs);
          const stage = p.stage === 'refit' ? 'refit on all examples' : p.stage === 'partial' || p.stage === 'partial-refit' ? `${STRATEGY_INFO[strategy].title} + head` : 'head';
          ui.trainStatus.textContent = `Epoch ${p.epoch}/${p.epochs} (${stage}): loss ${p.loss.toFixed(3)}, accuracy ${(p.accuracy * 100).toFixed(0)}%` +
            (p.valAccuracy !== undefined ? `, validation ${(p.valAccuracy * 100).toFixed(0)}%` : '');
          curves.loss.push(p.loss);
          curves.acc.push(p.accuracy);
          curves.valLoss.push(p.valLoss);
          curves.valAcc.push(p.valAccuracy);
          redraw();
          announce(ui.trainStatus.textContent, 'training', 5000);
        }
      },
    });
    ui.progress.value = 1;
    state.trained = true;
    await app.clf.save(MODEL_URL);
    ui.trainStatus.textContent =
      `Trained ${report.labels.length} classes on ${report.trainCount + report.validationCount} examples (${report.trainCount} train, ${report.validationCount} validation) in ${((report.embedMs + report.trainMs) / 1000).toFixed(1)} s` +
      (report.bestValAccuracy !== undefined ? `; validation accuracy ${(report.bestValAccuracy * 100).toFixed(0)}%` : '') +
      `. Saved on this device.`;
    announce(ui.trainStatus.textContent);
    setStatus(camera.running ? 'Trained: live prediction is on.' : 'Trained: start the camera or drop an image to try it.');
  } catch (err) {
    if (!(err instanceof EdgetuneError && err.code === 'ABORTED')) throw err;
    ui.trainStatus.textContent = 'Stopped; the previous model is unchanged.';
    announce(ui.trainStatus.textContent);
  } finally {
    state.training = null;
    refreshButtons();
    void liveLoop();
  }
}

export function clampInt(input: HTMLInputElement, min: number, max: number): number {
  const v = Math.round(Number(input.value));
  const c = Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : min;
  input.value = String(c);
  return c;
}
