"""The ``cnn`` baseline: a plain convolutional network on one-hot bases, every window of the layout.

Three convolutions (64 channels, kernels 15 / 9 / 5, ReLU, max-pooling by 8 after the first two) shared by the
windows; each window pooled on its own (mean and maximum over its positions) plus a learned embedding of the
window; dropout 0.3 and one linear layer to every target, standardized on the training genes. AdamW (2e-3,
weight decay 0.05), batches of 32, a random shift of up to 8 bases as augmentation; 10 % of the training genes
(seeded) are held out for early stopping on their loss (patience 4 epochs, at most 40) and the best epoch is kept.

The earlier baseline (one tower over all windows laid end to end, pooled together, raw ln TPM targets, no
augmentation) scored 0.044 ± 0.021 on the demo's genes where this recipe reaches about 0.3 (README "The deep
path on real genes"). ``history_`` holds the training and held-out R² of every epoch: the learning curve.
"""

from __future__ import annotations

import numpy as np

LUT = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    LUT[_b] = _i
    LUT[_b + 32] = _i  # soft-masked (lower-case) bases are bases


def encode_windows(seqs, anchors_right: list[bool] | None = None, widths: list[int] | None = None) -> list:
    """Per window, an int64 array (genes, width) of base codes 0-3 (4 = N, other letters or padding): windows
    anchored at their 3' end are right-aligned (padding on the left), the others left-aligned. ``widths``:
    the width of each window's array (default: its longest sequence; longer ones lose their far end)."""
    parts = [s.split("|") for s in seqs]
    n = len(parts[0]) if parts else 1
    right = anchors_right if anchors_right is not None else [True] * n
    out = []
    for j in range(n):
        width = widths[j] if widths else max(1, max(len(p[j]) for p in parts))
        arr = np.full((len(parts), width), 4, dtype=np.int64)
        for r, p in enumerate(parts):
            codes = LUT[np.frombuffer(p[j].encode("ascii"), dtype=np.uint8)]
            codes = codes[-width:] if right[j] else codes[:width]
            if right[j]:
                arr[r, width - len(codes):] = codes
            else:
                arr[r, :len(codes)] = codes
        out.append(arr)
    return out


def _net(n_windows: int, n_out: int, channels: int = 64):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(4, channels, 15, padding=7)
            self.c2 = nn.Conv1d(channels, channels, 9, padding=4)
            self.c3 = nn.Conv1d(channels, channels, 5, padding=2)
            self.window = nn.Parameter(torch.zeros(n_windows, channels))
            self.out = nn.Sequential(nn.Dropout(0.3), nn.Linear(2 * channels * n_windows, n_out))

        def forward(self, windows):
            feats = []
            for j, x in enumerate(windows):
                h = F.one_hot(x, 5)[..., :4].float().transpose(1, 2)
                h = F.max_pool1d(F.relu(self.c1(h)), 8)
                h = F.max_pool1d(F.relu(self.c2(h)), 8)
                h = F.relu(self.c3(h)) + self.window[j][None, :, None]
                feats += [h.mean(-1), h.amax(-1)]
            return self.out(torch.cat(feats, 1))

    return Net()


class OneHotCNN:
    """The ``cnn`` baseline (see the module doc)."""

    name = "cnn"
    seeded = True

    def __init__(self, seed: int = 0, epochs: int = 40, patience: int = 4, batch_size: int = 32, layout=None,
                 lr: float = 2e-3, weight_decay: float = 0.05, shift: int = 8):
        self.seed, self.epochs, self.patience, self.batch_size = seed, epochs, patience, batch_size
        self.layout, self.lr, self.weight_decay, self.shift = layout, lr, weight_decay, shift

    def _encode(self, seqs, fit: bool = False):
        import torch

        right = list(self.layout.anchors_right) if self.layout is not None else None
        if fit:
            arrays = encode_windows(seqs, right)
            self.widths_ = [a.shape[1] for a in arrays]
        else:
            arrays = encode_windows(seqs, right, self.widths_)
        return [torch.from_numpy(a) for a in arrays]

    def _predict(self, x, rows=None):
        import torch

        self.net_.eval()
        idx = np.arange(len(x[0])) if rows is None else rows
        with torch.no_grad():
            out = [self.net_([w[idx[i:i + 256]] for w in x]) for i in range(0, len(idx), 256)]
        return torch.cat(out).numpy().astype(np.float64) * self.sd_ + self.mu_

    def fit(self, seqs, y):
        import copy

        import torch
        from torch.nn import functional as F

        from florabert.evaluation.metrics import r2

        y = np.asarray(y, np.float64)
        x = self._encode(list(seqs), fit=True)
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        order = torch.randperm(len(y), generator=gen).numpy()
        n_val = max(1, len(y) // 10)
        val, tr = order[:n_val], order[n_val:]
        self.mu_, self.sd_ = y[tr].mean(0), y[tr].std(0) + 1e-8
        t = torch.from_numpy(((y - self.mu_) / self.sd_).astype(np.float32))
        self.net_ = _net(len(x), y.shape[1])
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, best_state, bad, self.history_ = float("inf"), None, 0, []
        probe = tr[:min(len(tr), 1000)]
        for epoch in range(self.epochs):
            self.net_.train()
            perm = tr[torch.randperm(len(tr), generator=gen).numpy()]
            for i in range(0, len(perm), self.batch_size):
                batch = perm[i:i + self.batch_size]
                s = int(torch.randint(-self.shift, self.shift + 1, (1,), generator=gen)) if self.shift else 0
                xb = [torch.roll(w[batch], s, 1) for w in x]
                loss = F.mse_loss(self.net_(xb), t[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            pv = self._predict(x, val)
            v = float(((pv - y[val]) ** 2).mean())
            self.history_.append({"epoch": epoch + 1, "train_r2": r2(y[probe], self._predict(x, probe)),
                                  "validation_r2": r2(y[val], pv)})
            if v < best - 1e-9:
                best, best_state, bad = v, copy.deepcopy(self.net_.state_dict()), 0
            else:
                bad += 1
                if bad >= self.patience:
                    break
        self.net_.load_state_dict(best_state)
        self.val_mse_ = best
        return self

    def predict(self, seqs):
        return self._predict(self._encode(list(seqs)))


__all__ = ["OneHotCNN", "encode_windows"]
