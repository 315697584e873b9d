"""Many arrays end to end in one contiguous buffer, so that one message carries them all.

A Transformer has dozens of parameter arrays.  All-reducing each gradient
separately would pay the per-message latency (microseconds on one machine,
tens of microseconds across a network) dozens of times per update, and
small messages use the network badly.  Instead we copy every gradient into
one preallocated flat array, reduce that once, and copy the sums back:

    offsets  0        n0        n0+n1 ...                 numel   numel+extra
    data     [ grad 0 | grad 1 |  ...  | grad P-1 | extra slots ]

``views[i]`` is ``data[offset_i : offset_i + n_i].reshape(shape_i)``: a view,
not a copy, so ``pack`` writes straight into the buffer.  The extra slots
(one here) carry scalars that must be summed along with the gradients, such
as the loss.  Cost: one more copy of all gradients in memory, and two memory
copies per update -- negligible next to the forward and backward pass.
"""
from __future__ import annotations

import math

import numpy

__all__ = ["FlatBuffer"]


class FlatBuffer:
    """A contiguous 1-D array (of ``xp``: numpy or cupy) holding arrays of ``shapes`` then ``extra`` scalars.

    data     (numel + extra,)  the buffer itself, dtype ``dtype``
    views    list of arrays    ``views[i]`` has ``shapes[i]`` and aliases ``data``
    extra    (extra,)          the trailing scalar slots, a view of ``data``
    """

    def __init__(self, shapes, dtype, *, xp=numpy, extra: int = 0):
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        if any(d < 0 for s in self.shapes for d in s):
            raise ValueError(f"FlatBuffer: shapes must be non-negative, got {self.shapes}")
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"FlatBuffer: extra must be an integer >= 0, got {extra!r}")
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [0]
        for n in self.sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.numel = self.offsets.pop()
        self.data = xp.zeros(self.numel + extra, dtype=dtype)
        self.views = [self.data[o:o + n].reshape(s) for o, n, s in zip(self.offsets, self.sizes, self.shapes)]
        self.extra = self.data[self.numel:]

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def pack(self, arrays):
        """Copy ``arrays`` (one per shape, in order; ``None`` means zeros) into the buffer; return ``data``."""
        arrays = list(arrays)
        if len(arrays) != len(self.views):
            raise ValueError(f"FlatBuffer.pack: expected {len(self.views)} arrays, got {len(arrays)}")
        for i, (view, a) in enumerate(zip(self.views, arrays)):
            if a is None:
                view[...] = 0
                continue
            if tuple(a.shape) != view.shape:
                raise ValueError(f"FlatBuffer.pack: array {i} has shape {tuple(a.shape)}, expected {view.shape}")
            view[...] = a
        return self.data

    def unpack(self, out=None) -> list:
        """The arrays held, as views of the buffer; or, given ``out`` (a list of arrays), copied into them."""
        if out is None:
            return list(self.views)
        out = list(out)
        if len(out) != len(self.views):
            raise ValueError(f"FlatBuffer.unpack: expected {len(self.views)} arrays, got {len(out)}")
        for i, (view, a) in enumerate(zip(self.views, out)):
            if tuple(a.shape) != view.shape:
                raise ValueError(f"FlatBuffer.unpack: array {i} has shape {tuple(a.shape)}, expected {view.shape}")
            a[...] = view
        return out
