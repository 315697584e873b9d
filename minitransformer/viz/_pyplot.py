"""matplotlib's pyplot, ready to draw without a screen.

Scripts, the command line and CI have no display, so the file-only "Agg"
backend is chosen there.  Inside Jupyter (ipykernel loaded) the notebook's
inline backend is left alone, so figures still show in the cells.
"""
from __future__ import annotations

import sys


def pyplot():
    import matplotlib  # noqa: PLC0415  (imported only when a plot is drawn)

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt
