"""Summarizes results/*.jsonl: mean test accuracy per configuration over its seeds
(a configuration repeated in two grids counts once per seed). Prints Markdown."""
import collections, glob, json, os, statistics as st

HERE = os.path.dirname(os.path.abspath(__file__))
runs = {}
for path in sorted(glob.glob(os.path.join(HERE, 'results', '*.jsonl'))):
    for line in open(path):
        r = json.loads(line)
        aug = r['aug'] + (' (head: flip)' if r.get('head_aug') == 'flip' else '')
        cfg = (r['first'], r['blr'], aug, r['epochs'], r.get('wd', 1e-4), r['head_epochs'], r.get('ema', 0))
        runs[cfg + (r['seed'],)] = r
by = collections.defaultdict(list)
for k, r in runs.items():
    by[k[:-1]].append(r)
BLOCKS = lambda first: 'head only' if first >= 18 else 'Conv_1 only' if first == 17 else 'all' if first < 0 else f'{17 - first} ({first}-16)'
print('| unfrozen blocks (indices) | head-only epochs | backbone lr | augmentation | epochs | weight decay | weight EMA | seeds | test, best val epoch | test after refit on train+val |')
print('|---|---|---|---|---|---|---|---|---|---|')
for k, v in sorted(by.items(), key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2], kv[0][3], kv[0][4], kv[0][5], kv[0][6])):
    first, blr, aug, epochs, wd, he, ema = k
    t = [r['test'] for r in v]
    rf = [r['refit_test'] for r in v if 'refit_test' in r]
    fmt = lambda xs: f"{st.mean(xs):.3f}" + (f" ({', '.join(f'{x:.3f}' for x in xs)})" if len(xs) > 1 else '')
    print(f"| {BLOCKS(first)} | {he} | {blr:g} | {aug} | {epochs if first < 18 else '-'} | {wd:g} | {ema or '-'} | {len(v)} | {fmt(t)} | {fmt(rf) if rf else '-'} |")
