"""``python -m medgan ...``: see :mod:`medgan.cli`."""

from __future__ import annotations

import sys

from medgan.cli import main

if __name__ == "__main__":
    sys.exit(main())
