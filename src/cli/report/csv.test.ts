// history.csv and predictions.csv: stages in run order, RFC 4180 quoting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EpochLog, TrainingReport } from '../../types.js';
import { historyCsv, predictionsCsv } from './csv.js';

const log = (epoch: number, extra: Partial<EpochLog> = {}): EpochLog => ({ epoch, epochs: 2, loss: 1 / epoch, accuracy: 0.5, learningRate: 1e-3, ms: 10.4, ...extra });

describe('training CSVs', () => {
  it('history.csv lists select, partial, refit and partial-refit epochs in the order they ran, val columns empty where absent', () => {
    const report = {
      history: [log(1, { valLoss: 0.9, valAccuracy: 0.6 }), log(2, { valLoss: 0.8, valAccuracy: 0.7 })],
      refitHistory: [log(1)],
      partial: { history: [log(1, { valLoss: 0.7, valAccuracy: 0.75 })], refitHistory: [log(1)] },
    } as unknown as TrainingReport;
    const lines = historyCsv(report).trim().split('\n');
    assert.equal(lines[0], 'stage,epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,ms');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]), ['select', 'select', 'partial', 'refit', 'partial-refit']);
    assert.equal(lines[1], 'select,1,1,0.5,0.9,0.6,0.001,10');
    assert.equal(lines[4], 'refit,1,1,0.5,,,0.001,10');
  });

  it('predictions.csv quotes paths with commas and quotes, one row per image with the top-k', () => {
    const text = predictionsCsv(
      [
        { path: 'a/b,c "d".jpg', label: 'cat', top: [{ label: 'dog', probability: 0.6 }, { label: 'cat', probability: 0.4 }] },
        { path: 'x.jpg', label: 'dog', top: [{ label: 'dog', probability: 0.9 }, { label: 'cat', probability: 0.1 }] },
      ],
      2,
    );
    const lines = text.trim().split('\n');
    assert.equal(lines[0], 'path,true_label,predicted_label,probability,top1_label,top1_probability,top2_label,top2_probability');
    assert.equal(lines[1], '"a/b,c ""d"".jpg",cat,dog,0.6,dog,0.6,cat,0.4');
    assert.equal(lines.length, 3);
  });
});
