"""What the Studio's painter sends after a stroke, built without a browser (for tests of the Studio's handlers)."""

from __future__ import annotations

import numpy as np

from medgan.ui import painter as PT


def painted(view: str, region: tuple[slice, slice] | None = None, labels: np.ndarray | None = None) -> str:
    """The strokes message for ``view`` (the JSON the server sent the painter): its labels (or ``labels``), with
    the region painted over ``region`` (rows, columns in voxels)."""
    key, codes = PT.view_codes(view)
    lab = (codes & (PT.REGION_BIT - 1)) if labels is None else labels
    mask = np.zeros(codes.shape, bool)
    if region is not None:
        mask[region] = True
    return PT.strokes_message(key, lab, mask)


BRAIN_REGION = (slice(100, 150), slice(90, 140))  # 50×50 voxels in the embedded brain's tissue
