"""The dtypes, by PyTorch's names: ``mt.float32``, ``mt.long``, ``mt.bool``...

A Tensor's data are a NumPy (or CuPy) array, so its dtype *is* a NumPy dtype,
and so are these names: ``mt.long`` is ``numpy.dtype("int64")``.  That makes
them work wherever a dtype is taken, by the engine and by NumPy alike::

    ids = mt.tensor([3, 1, 4], dtype=mt.long)
    ids.dtype == mt.int64            # True
    x.to(mt.float64), mt.zeros(3, dtype=mt.float)

As in PyTorch, ``mt.float`` is float32 and ``mt.double`` float64 (whatever the
default float dtype is), ``mt.int`` is int32 and ``mt.long`` int64.

``mt.float``, ``mt.int`` and ``mt.bool`` are attributes of the package but
are kept out of every ``__all__``: ``from minitransformer import *`` would
otherwise hide Python's ``float``, ``int`` and ``bool``.  For the same reason
this module defines them last, and uses no builtin of those names itself.
"""
from __future__ import annotations

import numpy

dtype = numpy.dtype            # isinstance(x.dtype, mt.dtype), as torch.dtype

float16 = half = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = double = numpy.dtype("float64")
int32 = numpy.dtype("int32")
int64 = long = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")

# the names that hide builtins: reachable as mt.float, never star-imported
float = float32                # noqa: A001  (PyTorch's name: torch.float is float32)
int = int32                    # noqa: A001
bool = numpy.dtype("bool")     # noqa: A001

PUBLIC = ("dtype", "float16", "half", "float32", "float64", "double", "int32", "int64", "long", "uint8")
SHADOWING_BUILTINS = ("float", "int", "bool")
