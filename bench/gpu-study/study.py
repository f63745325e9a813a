"""Strategy study on a GPU machine (PyTorch): how much does unfreezing the default
backbone's tail gain on an ImageFolder dataset, by depth, learning rate and
augmentation? Runs the bundled tfjs graph model itself (weights dequantized from
models/mobilenet_v2_140, BatchNorm already folded) through a small PyTorch
interpreter, so the answer is about the same network the SDK trains.

usage: python3 study.py MODEL_DIR DATA_DIR OUT.jsonl SHARD NSHARDS GRID
Prints one JSON line per configuration (val/test accuracy at the best-validation epoch).
"""
import json, math, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


def load_graph(d):
    m = json.load(open(os.path.join(d, 'model.json')))
    consts = {}
    for g in m['weightsManifest']:
        buf = b''.join(open(os.path.join(d, p), 'rb').read() for p in g['paths'])
        off = 0
        for w in g['weights']:
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            q = w.get('quantization')
            if q:
                dt = {'uint8': np.uint8, 'uint16': np.uint16, 'float16': np.float16}[q['dtype']]
                a = np.frombuffer(buf, dt, n, off).astype(np.float32)
                off += n * np.dtype(dt).itemsize
                if q['dtype'] != 'float16':
                    a = a * q['scale'] + q['min']
            else:
                dt = {'float32': np.float32, 'int32': np.int32}[w['dtype']]
                a = np.frombuffer(buf, dt, n, off).astype(np.float32)
                off += n * 4
            consts[w['name']] = torch.tensor(a.reshape(w['shape']))
    return m['modelTopology']['node'], consts


def ints(n, k):
    return [int(i) for i in n.get('attr', {}).get(k, {}).get('list', {}).get('i', [])]


def fused(n):
    import base64
    return [base64.b64decode(s).decode() for s in n.get('attr', {}).get('fused_ops', {}).get('list', {}).get('s', [])]


def pad_same(x, k, s):
    out = []
    for dim in (3, 2):  # F.pad order: last dim first
        i = x.shape[dim]
        o = math.ceil(i / s)
        p = max((o - 1) * s + k - i, 0)
        out += [p // 2, p - p // 2]
    return F.pad(x, out)


class Net(torch.nn.Module):
    """The graph as PyTorch ops (NCHW). Parameters named by graph node."""

    def __init__(self, nodes, consts, feature):
        super().__init__()
        by = {n['name']: n for n in nodes}
        need, st = set(), [feature]
        while st:
            k = st.pop().lstrip('^').split(':')[0]
            if k in need or k not in by:
                continue
            need.add(k)
            st += by[k].get('input', [])
        self.order = [n for n in nodes if n['name'] in need and n['op'] != 'Const']
        self.feature = feature
        self.keys = {}
        params = {}
        for n in self.order:
            if n['op'] in ('_FusedConv2D', 'FusedDepthwiseConv2dNative'):
                x, k, b = [i.split(':')[0] for i in n['input'][:3]]
                w = consts[k]
                if n['op'] == '_FusedConv2D':
                    w = w.permute(3, 2, 0, 1).contiguous()
                else:
                    kh, kw, cin, mult = w.shape
                    w = w.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous()
                kk = 'p%d' % len(params)
                params[kk + 'w'] = torch.nn.Parameter(w)
                params[kk + 'b'] = torch.nn.Parameter(consts[b].clone())
                self.keys[n['name']] = kk
        self.params = torch.nn.ParameterDict(params)
        self.consts = {k: v for k, v in consts.items()}

    def block_of(self, name):
        """Index of the node's block: stem 'Conv' -1, expanded_conv_N N, Conv_1 17."""
        for part in name.split('/'):
            if part == 'Conv':
                return -1
            if part == 'Conv_1':
                return 17
            if part.startswith('expanded_conv'):
                return int(part.split('_')[-1]) if part != 'expanded_conv' else 0
        return 99

    def set_trainable(self, first_block):
        names = []
        for n in self.order:
            if n['name'] in self.keys:
                on = self.block_of(n['name']) >= first_block
                kk = self.keys[n['name']]
                self.params[kk + 'w'].requires_grad_(on)
                self.params[kk + 'b'].requires_grad_(on)
                if on:
                    names += [kk + 'w', kk + 'b']
        return names

    def forward(self, x):  # x: NCHW in [0, 1]
        v = {}
        inp = lambda n, i: v[n['input'][i].split(':')[0]] if n['input'][i].split(':')[0] in v else self.consts[n['input'][i].split(':')[0]].to(x.device)
        for n in self.order:
            op = n['op']
            if op == 'Placeholder':
                y = x
            elif op == 'Mul':
                y = inp(n, 0) * inp(n, 1)
            elif op == 'Sub':
                y = inp(n, 0) - inp(n, 1)
            elif op == 'AddV2':
                y = inp(n, 0) + inp(n, 1)
            elif op in ('_FusedConv2D', 'FusedDepthwiseConv2dNative'):
                kk = self.keys[n['name']]
                w, b = self.params[kk + 'w'], self.params[kk + 'b']
                s = ints(n, 'strides')[1]
                xi = pad_same(inp(n, 0), w.shape[2], s)
                y = F.conv2d(xi, w, b, stride=s, groups=1 if op == '_FusedConv2D' else xi.shape[1])
                act = fused(n)[1:] 
                if act == ['Relu6']:
                    y = torch.clamp(y, 0, 6)
                elif act == ['Relu']:
                    y = torch.relu(y)
            elif op in ('AvgPool', 'Mean'):
                y = y_mean = inp(n, 0).mean(dim=(2, 3), keepdim=True)
            elif op == 'Squeeze':
                y = inp(n, 0).flatten(1)
            else:
                raise ValueError(op)
            v[n['name']] = y
        return v[self.feature]


CLASSES = None


def load_split(root, split):
    global CLASSES
    d = os.path.join(root, split)
    if CLASSES is None:
        CLASSES = sorted(c for c in os.listdir(d) if os.path.isdir(os.path.join(d, c)))
    xs, ys = [], []
    for i, c in enumerate(CLASSES):
        for f in sorted(os.listdir(os.path.join(d, c))):
            if f.lower().endswith(('.png', '.jpg', '.jpeg')):
                im = Image.open(os.path.join(d, c, f)).convert('RGB')
                xs.append(np.asarray(im))
                ys.append(i)
    return torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).contiguous(), torch.tensor(ys)


def resize(x):  # uint8 NCHW -> float [0,1] 224, half-pixel bilinear (as the engine)
    return F.interpolate(x.float() / 255, size=(224, 224), mode='bilinear', align_corners=False)


def rrc_theta(n, g, flip=True, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3)):
    area = torch.empty(n).uniform_(*scale, generator=g)
    logr = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g)
    w = torch.sqrt(area * torch.exp(logr)).clamp(max=1)
    h = torch.sqrt(area / torch.exp(logr)).clamp(max=1)
    cx = (torch.rand(n, generator=g) * (1 - w) + w / 2) * 2 - 1
    cy = (torch.rand(n, generator=g) * (1 - h) + h / 2) * 2 - 1
    sx = w * torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else w
    th = torch.zeros(n, 2, 3)
    th[:, 0, 0], th[:, 0, 2], th[:, 1, 1], th[:, 1, 2] = sx, cx, h, cy
    return th


def views(x, mode, g):
    """A batch's training input. mode: none | flip | rrc (online random crop + flip)."""
    xf = x.float() / 255
    if mode == 'none':
        return resize(x)
    if mode == 'flip':
        out = resize(x)
        m = torch.rand(len(x), generator=g) < 0.5
        out[m] = out[m].flip(3)
        return out
    th = rrc_theta(len(x), g).to(x.device)
    grid = F.affine_grid(th, [len(x), 3, 224, 224], align_corners=False)
    return F.grid_sample(xf, grid, mode='bilinear', padding_mode='border', align_corners=False)


def accuracy(net, head, mu, sd, x, y, bs=250):
    net.eval()
    correct = 0
    with torch.no_grad(), torch.autocast('cuda', torch.bfloat16, enabled=DEV == 'cuda'):
        for i in range(0, len(x), bs):
            f = (net(resize(x[i:i + bs])).float() - mu) / sd
            correct += (head(f).argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(x)


def run(cfg, base, data, fixed_epochs=None):
    (xtr, ytr), (xva, yva), (xte, yte) = data
    seed = cfg['seed']
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = base
    net.load_state_dict(base_state)
    trainable = net.set_trainable(cfg['first'])  # first block trained (18 = head only)
    with torch.no_grad(), torch.autocast('cuda', torch.bfloat16, enabled=DEV == 'cuda'):
        ftr = torch.cat([net(resize(xtr[i:i + 250])).float() for i in range(0, len(xtr), 250)])
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    if cfg.get('head_aug') == 'flip':  # a cached mirror view per image; each epoch picks one
        with torch.no_grad(), torch.autocast('cuda', torch.bfloat16, enabled=DEV == 'cuda'):
            ftr_m = torch.cat([net(resize(xtr[i:i + 250]).flip(3)).float() for i in range(0, len(xtr), 250)])
        fs_m = (ftr_m - mu) / sd
    head = torch.nn.Linear(ftr.shape[1], len(CLASSES)).to(DEV)
    torch.nn.init.zeros_(head.weight); torch.nn.init.zeros_(head.bias)
    # Stage 1: the head on frozen features (no augmentation), as the engine's head strategy.
    opt = torch.optim.AdamW(head.parameters(), lr=cfg['hlr'], weight_decay=1e-4)
    fs = (ftr - mu) / sd
    for ep in range(cfg['head_epochs']):
        lr = cfg['hlr'] * 0.5 ** (ep // 10)
        for p in opt.param_groups: p['lr'] = lr
        perm = torch.randperm(len(fs), generator=g).to(DEV)
        for i in range(0, len(fs), 32):
            idx = perm[i:i + 32]
            fb = fs[idx]
            if cfg.get('head_aug') == 'flip':
                m = (torch.rand(len(idx), generator=g) < 0.5).to(DEV)
                fb = torch.where(m[:, None], fs_m[idx], fb)
            loss = F.cross_entropy(head(fb), ytr[idx], label_smoothing=0.1)
            opt.zero_grad(); loss.backward(); opt.step()
    head_val = accuracy(net, head, mu, sd, xva, yva)
    head_test = accuracy(net, head, mu, sd, xte, yte)
    res = dict(cfg, head_val=head_val, head_test=head_test)
    if cfg['first'] >= 18 and cfg.get('refit') and fixed_epochs is None:
        res['refit_test'] = refit(cfg, base, data, 0)
    if cfg['first'] >= 18:
        res.update(val=head_val, test=head_test, best_epoch=0)
        return res
    # Stage 2: tail + head.
    hl2 = cfg['hlr'] * 0.5 ** (cfg['head_epochs'] // 10 - 1) if cfg.get('head_lr2') is None else cfg['head_lr2']
    params = [p for n, p in net.params.items() if n in trainable]
    opt = torch.optim.AdamW([{'params': params, 'lr': cfg['blr'], 'weight_decay': cfg.get('wd', 1e-4)}, {'params': head.parameters(), 'lr': hl2, 'weight_decay': 1e-4}])
    steps = cfg['epochs'] * math.ceil(len(xtr) / 32)
    warm = math.ceil(len(xtr) / 32)
    best = (head_val, head_test, 0)
    step = 0
    live = params + list(head.parameters())
    ema = [p.detach().clone() for p in live] if cfg.get('ema') else None

    class swapped:  # evaluates with the averaged weights when there are any
        def __enter__(self):
            if ema is not None:
                self.saved = [p.detach().clone() for p in live]
                with torch.no_grad():
                    for p, e in zip(live, ema): p.copy_(e)

        def __exit__(self, *a):
            if ema is not None:
                with torch.no_grad():
                    for p, s in zip(live, self.saved): p.copy_(s)
    for ep in range(1, cfg['epochs'] + 1):
        net.train()
        perm = torch.randperm(len(xtr), generator=g).to(DEV)
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            f = min(1, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / steps))
            opt.param_groups[0]['lr'] = cfg['blr'] * f
            with torch.autocast('cuda', torch.bfloat16, enabled=DEV == 'cuda'):
                feats = net(views(xtr[idx], cfg['aug'], g)).float()
            loss = F.cross_entropy(head((feats - mu) / sd), ytr[idx], label_smoothing=0.1)
            opt.zero_grad(); loss.backward(); opt.step()
            step += 1
            if ema is not None:  # exponential moving average of the trained weights
                with torch.no_grad():
                    for e, p in zip(ema, live):
                        e.mul_(cfg['ema']).add_(p, alpha=1 - cfg['ema'])
        if fixed_epochs is not None:
            continue
        with swapped():
            va = accuracy(net, head, mu, sd, xva, yva)
            res.setdefault('val_history', []).append(va)
            if va > best[0]:
                best = (va, accuracy(net, head, mu, sd, xte, yte), ep)
    if fixed_epochs is not None:
        with swapped():
            res['last_test'] = accuracy(net, head, mu, sd, xte, yte)
        return res
    res.update(val=best[0], test=best[1], best_epoch=best[2], last_val=va)
    if fixed_epochs is None and cfg.get('refit'):
        res['refit_test'] = refit(cfg, base, data, best[2])
    return res


def refit(cfg, base, data, epochs):
    """Trains again on train+val for the selected epochs (the engine's refit); test accuracy at the end."""
    (xtr, ytr), (xva, yva), (xte, yte) = data
    both = ((torch.cat([xtr, xva]), torch.cat([ytr, yva])), (xva, yva), (xte, yte))
    c = dict(cfg, refit=False, epochs=epochs)
    if epochs == 0:
        c['first'] = 18
    r = run(c, base, both, fixed_epochs=epochs)
    return r['last_test'] if epochs else r['head_test']


def grid(name):
    out = []
    if name == 'A':
        for seed in (1,):
            out.append(dict(first=18, blr=0, aug='none'))
            for first in (17, 16, 15, 14, 13, 11, 8, 4, -1):
                for blr in (1e-4, 3e-4, 1e-3):
                    for aug in ('none', 'rrc'):
                        out.append(dict(first=first, blr=blr, aug=aug))
    if name == 'B':
        for seed in (1, 2, 3):
            out.append(dict(seed=seed, first=18, blr=0, aug='none'))
            for first, blr in ((16, 3e-4), (15, 3e-4), (14, 3e-4), (13, 1e-4), (13, 3e-4), (11, 3e-4)):
                out.append(dict(seed=seed, first=first, blr=blr, aug='none'))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='flip'))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=20))
        for c in out:
            c['refit'] = True
    if name == 'D':
        for seed in (1, 2):
            for first, blr in ((13, 3e-4), (13, 1.5e-4), (16, 3e-4), (11, 3e-4)):
                out.append(dict(seed=seed, first=first, blr=blr, aug='none', epochs=20))
    if name == 'E':  # mirror views: for the head, for the tail, for both (20 epochs, last stage)
        for seed in (1, 2, 3):
            out.append(dict(seed=seed, first=18, blr=0, aug='none', head_aug='flip', head_epochs=80))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='flip', epochs=20))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='flip', head_aug='flip', epochs=20))
        for c in out:
            c['refit'] = True
    if name == 'F':  # averaged weights (EMA per step), 20 epochs, last stage
        for seed in (1, 2, 3):
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=20))
            for d in (0.99, 0.995):
                out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=20, ema=d))
            out.append(dict(seed=seed, first=13, blr=5e-4, aug='none', epochs=20, ema=0.99))
        for c in out:
            c['refit'] = True
    if name == 'G':  # longer, or a little faster, than the 20-epoch 3e-4 default
        for seed in (1, 2, 3):
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=30))
            out.append(dict(seed=seed, first=13, blr=4e-4, aug='none', epochs=20))
        for c in out:
            c['refit'] = True
    if name == 'H':  # 30 against 20 epochs on three more seeds
        for seed in (4, 5, 6):
            for epochs in (20, 30):
                out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=epochs))
        for c in out:
            c['refit'] = True
    if name == 'C':
        for seed in (1, 2, 3):
            out.append(dict(seed=seed, first=18, blr=0, aug='none', head_epochs=80))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=16))
            out.append(dict(seed=seed, first=13, blr=5e-4, aug='none', epochs=12))
            out.append(dict(seed=seed, first=13, blr=3e-4, aug='none', epochs=12, wd=1e-2))
            out.append(dict(seed=seed, first=11, blr=3e-4, aug='none', epochs=20))
            out.append(dict(seed=seed, first=14, blr=3e-4, aug='none', epochs=20))
            out.append(dict(seed=seed, first=15, blr=3e-4, aug='none', epochs=20))
        for c in out:
            c['refit'] = True
    for c in out:
        c.setdefault('seed', 1); c.setdefault('hlr', 3e-4); c.setdefault('head_epochs', 40); c.setdefault('epochs', 12)
    return out


if __name__ == '__main__':
    model_dir, data_dir, out_path, shard, nshards, gname = sys.argv[1:7]
    shard, nshards = int(shard), int(nshards)
    nodes, consts = load_graph(model_dir)
    feature = [n['name'] for n in nodes if n['name'].endswith('feature_vector/SpatialSqueeze')][0]
    base = Net(nodes, consts, feature).to(DEV).to(memory_format=torch.channels_last)
    base_state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    data = [load_split(data_dir, s) for s in ('train', 'val', 'test')]
    data = [(x.to(DEV), y.to(DEV)) for x, y in data]
    if shard == 0:
        ref = os.environ.get('STUDY_REF')
        if ref and os.path.exists(ref):
            r = json.load(open(ref))
            with torch.no_grad():
                got = base(torch.tensor(r['input']).reshape(r['shape']).permute(0, 3, 1, 2).to(DEV))
            print(json.dumps({'check_max_abs_vs_tfjs': (got.cpu() - torch.tensor(r['output']).reshape(got.shape)).abs().max().item()}), flush=True)
    cfgs = grid(gname)[shard::nshards]
    with open(out_path, 'a') as fo:
        for c in cfgs:
            t = time.time()
            r = run(c, base, data)
            r['seconds'] = round(time.time() - t, 1)
            line = json.dumps(r)
            print(line, flush=True)
            fo.write(line + '\n'); fo.flush()
