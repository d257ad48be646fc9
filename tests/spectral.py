"""The spectral norm of each spectral-normalised layer's raw weight, computed here independently of the code
under test (exact SVD of the weight reshaped along the layer's normalisation dimension)."""

from __future__ import annotations

import torch


def spectral_norms(module: torch.nn.Module) -> list[float]:
    out = []
    for m in module.modules():
        plist = getattr(getattr(m, "parametrizations", None), "weight", None)
        if plist is not None:
            w = plist.original.detach()
            dim = plist[0].dim
            out.append(float(torch.linalg.matrix_norm(w.movedim(dim, 0).reshape(w.shape[dim], -1), ord=2)))
    return out
