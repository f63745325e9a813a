import { createClassifier } from 'edgetune';

const $ = (id) => document.getElementById(id);
const say = (text) => ($('status').textContent = text);

async function main() {
  // The worker, the .wasm files and the backbone come from the package: Vite emits them with the app.
  const clf = await createClassifier();
  say(`Ready (${clf.backend.name}). Pick photos for both classes, then Train.`);
  $('train').disabled = false;

  $('train').addEventListener('click', async () => {
    $('train').disabled = true;
    try {
      for (const k of ['a', 'b']) await clf.addExamples($(`name-${k}`).value, [...$(`files-${k}`).files]);
      const report = await clf.fineTune({
        onProgress: (p) => p.phase === 'train' && say(`Training: epoch ${p.epoch}, of ${p.epochs}`),
      });
      say(`Trained ${report.labels.join(' and ')}. Pick a photo to classify.`);
      $('predict').disabled = false;
    } catch (err) {
      say(`${err.code ?? 'ERROR'}: ${err.message}`);
    } finally {
      $('train').disabled = false;
    }
  });

  $('predict').addEventListener('change', async () => {
    const [top] = await clf.predict($('predict').files[0]);
    $('result').textContent = `${top.label} (${(top.probability * 100).toFixed(1)}%)`;
  });
}

main().catch((err) => say(`${err.code ?? 'ERROR'}: ${err.message}`));
