"""Classifier two-sample test: can a small CNN tell real from generated slices?

Each set is split in half at random (seeded); a small CNN is trained on the first halves (real = 1, fake = 0)
and scored on the second halves. The ROC AUC on the held-out halves is the statistic: 0.5 means the classifier
cannot tell the sets apart, 1.0 means it always can. Images are area-downsampled to ``image_size`` so the test
runs in seconds on a CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.metrics.image import as_image_batch

__all__ = ["two_sample_auc", "two_sample_auc_cv", "roc_auc"]


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """ROC AUC from scores (N,) and binary labels (N,) (Mann–Whitney U with ties counted half)."""
    s = scores.double().cpu().numpy()
    y = labels.bool().cpu().numpy()
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("roc_auc needs both positive and negative samples")
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return float((gt + 0.5 * eq) / (len(pos) * len(neg)))


def _small_cnn(width: int) -> nn.Module:
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 1),
    )


def _prep(x: Tensor | np.ndarray, size: int, name: str) -> Tensor:
    b, _ = as_image_batch(x, name)
    if b.shape[0] < 4:
        raise ValueError(f"{name}: the two-sample test needs at least 4 images per set, got {b.shape[0]}")
    if b.shape[-1] != size or b.shape[-2] != size:
        b = F.interpolate(b, size=(size, size), mode="area")
    return b * 2 - 1


def two_sample_auc(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, seed: int = 0, epochs: int = 30,
                   image_size: int = 64, width: int = 8, batch_size: int = 32, lr: float = 2e-3,
                   device: str = "cpu") -> float:
    """Held-out ROC AUC of a small CNN separating ``real`` from ``fake`` images ((N, H, W) or (N, 1, H, W) in
    [0, 1]); 0.5 = indistinguishable. Deterministic for a given seed on CPU."""
    r, f = _prep(real, image_size, "real"), _prep(fake, image_size, "fake")
    g = torch.Generator().manual_seed(int(seed))
    pr, pf = torch.randperm(len(r), generator=g), torch.randperm(len(f), generator=g)
    hr, hf = len(r) // 2, len(f) // 2
    scores = _fit_and_score(r[pr[:hr]], f[pf[:hf]], torch.cat([r[pr[hr:]], f[pf[hf:]]]), g, seed, epochs, width,
                            batch_size, lr, device)
    return roc_auc(scores, torch.cat([torch.ones(len(r) - hr), torch.zeros(len(f) - hf)]))


def two_sample_auc_cv(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, folds: int = 4, seed: int = 0,
                      epochs: int = 30, image_size: int = 64, width: int = 8, batch_size: int = 32, lr: float = 2e-3,
                      device: str = "cpu") -> float:
    """Cross-validated classifier two-sample test: each set is cut into ``folds`` random folds; for each fold a
    fresh CNN is trained on the other folds and scores the held-out one; the ROC AUC of all held-out scores
    pooled (every image is scored once, by a classifier that never saw it). 0.5 = indistinguishable."""
    r, f = _prep(real, image_size, "real"), _prep(fake, image_size, "fake")
    if folds < 2 or min(len(r), len(f)) < 2 * folds:
        raise ValueError(f"{folds}-fold two-sample test needs at least {2 * folds} images per set")
    g = torch.Generator().manual_seed(int(seed))
    fr = torch.randperm(len(r), generator=g).chunk(folds)
    ff = torch.randperm(len(f), generator=g).chunk(folds)
    scores, labels = [], []
    for i in range(folds):
        tr_r = torch.cat([fr[j] for j in range(folds) if j != i])
        tr_f = torch.cat([ff[j] for j in range(folds) if j != i])
        scores.append(_fit_and_score(r[tr_r], f[tr_f], torch.cat([r[fr[i]], f[ff[i]]]), g, seed + i, epochs, width,
                                     batch_size, lr, device))
        labels.append(torch.cat([torch.ones(len(fr[i])), torch.zeros(len(ff[i]))]))
    return roc_auc(torch.cat(scores), torch.cat(labels))


def _fit_and_score(real_train: Tensor, fake_train: Tensor, x_test: Tensor, g: torch.Generator, seed: int,
                   epochs: int, width: int, batch_size: int, lr: float, device: str) -> Tensor:
    """Train a fresh small CNN (real = 1, fake = 0, classes balanced by weight) and return its scores on x_test."""
    hr, hf = len(real_train), len(fake_train)
    x_train = torch.cat([real_train, fake_train]).to(device)
    y_train = torch.cat([torch.ones(hr), torch.zeros(hf)]).to(device)
    x_test = x_test.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = _small_cnn(width).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        pos_weight = torch.tensor([hf / max(hr, 1)], device=device)
        n = len(x_train)
        for _ in range(epochs):
            net.train()
            order = torch.randperm(n, generator=g)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size].to(device)
                if len(idx) < 2:
                    continue
                xb = x_train[idx]
                flip = torch.rand(len(idx), generator=g) < 0.5  # horizontal flips: cheap augmentation
                xb = torch.where(flip.view(-1, 1, 1, 1).to(device), xb.flip(-1), xb)
                loss = F.binary_cross_entropy_with_logits(net(xb).squeeze(1), y_train[idx], pos_weight=pos_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            return torch.cat([net(x_test[i : i + 128]).squeeze(1).cpu() for i in range(0, len(x_test), 128)])
