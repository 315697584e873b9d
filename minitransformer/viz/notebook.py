"""The setup cell of the tutorials, in one call.

Every tutorial (``tutorials/NN_*.py``, run as a script or as a notebook)
starts the same way::

    tutorial = setup_tutorial("04_attention", here=HERE)
    FAST, OUT, save = tutorial.fast, tutorial.out, tutorial.save
    plt = pyplot()

* ``tutorial.fast``: True when ``MINITRANSFORMER_TUTORIAL_FAST=1``; the
  tutorial then runs the same code with smaller sizes (CI does this);
* ``tutorial.out``: the folder its figures and runs go to,
  ``$MINITRANSFORMER_TUTORIAL_OUT/<name>``, by default
  ``<here>/_output/<name>``; created if missing;
* ``tutorial.save(fig, name)``: write the figure to ``out/<name>.png`` and,
  in Jupyter, show that PNG inline;
* ``pyplot()``: matplotlib's pyplot, on the file-only "Agg" backend outside
  Jupyter (see ``_pyplot.py``).

``setup_tutorial`` also seeds the engine (``mt.manual_seed``), so every run
of a tutorial draws the same numbers.  What it cannot do is make
``import minitransformer`` work from a checkout that is not installed: that
has to happen before this module can be imported, so it stays in the
tutorial's first cell.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..backend import manual_seed
from ._pyplot import pyplot

FAST_ENV = "MINITRANSFORMER_TUTORIAL_FAST"   # "1": smaller sizes, same code
OUT_ENV = "MINITRANSFORMER_TUTORIAL_OUT"     # the folder above each tutorial's output folder

__all__ = ["FAST_ENV", "OUT_ENV", "Tutorial", "pyplot", "setup_tutorial"]


def _in_jupyter() -> bool:
    return "ipykernel" in sys.modules


@dataclass(frozen=True)
class Tutorial:
    """One tutorial's settings: its ``name``, the FAST switch and its output folder."""

    name: str
    fast: bool
    out: Path

    def save(self, fig, name: str) -> Path:
        """Write ``fig`` to ``out/<name>.png`` (100 dpi), close it, show the PNG in Jupyter.

        Showing the file rather than the figure works whatever matplotlib
        backend the notebook uses.  Returns the path written.
        """
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        pyplot().close(fig)
        self.show(path)
        return path

    def show(self, path) -> None:
        """In Jupyter, display the image file ``path`` inline; elsewhere do nothing."""
        if _in_jupyter():
            from IPython.display import Image, display  # noqa: PLC0415  (Jupyter only)

            display(Image(filename=str(path)))


def setup_tutorial(name: str, here=None, *, seed: int = 0) -> Tutorial:
    """Read the FAST switch, create the output folder, seed the engine.

    Args:
        name: the tutorial's output folder name, e.g. ``"04_attention"``.
        here: the tutorial's own folder (default: the working directory,
            which is the notebook's folder in Jupyter); the default output
            folder is ``here/_output/<name>``.
        seed: passed to ``mt.manual_seed``.

    Returns:
        A :class:`Tutorial` with ``fast``, ``out`` and ``save(fig, name)``.
    """
    if not isinstance(name, str) or not name or os.sep in name or "/" in name:
        raise ValueError(f"setup_tutorial: name must be a folder name such as '04_attention', got {name!r}")
    here = Path.cwd() if here is None else Path(here)
    fast = os.environ.get(FAST_ENV) == "1"
    out = Path(os.environ.get(OUT_ENV, here / "_output")) / name
    out.mkdir(parents=True, exist_ok=True)
    manual_seed(seed)
    return Tutorial(name=name, fast=fast, out=out)
