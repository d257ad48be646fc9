"""medgan: medical image synthesis with GANs (synthesis, inpainting, segmentation, enhancement, generation).

Importing the package has no side effects: no model is loaded, no file is written, logging is not configured.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
