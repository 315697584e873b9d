"""minitransformer: a from-scratch deep-learning engine to learn Transformers with.

    import minitransformer as mt
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x @ x).sum().backward()
    x.grad

Layers, from the bottom up: ``backend`` (NumPy or CuPy) -> ``autograd``
(Tensor, Function, backward) -> ``ops`` (the differentiable operations) ->
``functional`` -> ``nn`` -> ``optim`` -> ``training`` -> ``cli``.

Every subpackage is an attribute, as ``torch.optim`` is after ``import torch``:
``mt.nn.Linear``, ``mt.optim.Adam``, ``mt.data.Tokenizer``, ``mt.training.Trainer``.
The engine's core is imported here; the rest (optimizers, data and
tokenizers, training, plots, ...) is imported the first time it is named, so
``import minitransformer`` stays quick and needs neither sentencepiece nor
matplotlib.
"""
from __future__ import annotations

import os as _os

# OpenBLAS (NumPy's BLAS) keeps its idle threads busy-waiting for about 0.1 s
# after every matrix product; on a small machine they then hold the cores
# that element-wise work needs (the backend's fast kernels spread it over
# threads).  4 is the shortest wait OpenBLAS accepts.  It takes effect only
# if NumPy is first imported after this line; an explicit setting wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"

from .autograd import (
    AnomalyError, BoolTensor, ByteTensor, Context, DoubleTensor, FloatTensor, Function, GraphError,
    InPlaceError, IntTensor, LongTensor, Tensor, arange, detect_anomaly, device, double, dtype, empty, empty_like,
    enable_grad, float16, float32, float64, from_numpy, full, full_like, grad, half, int32, int64,
    is_grad_enabled, long, no_grad, ones, ones_like, rand, rand_like, randn, randn_like, tensor, uint8, zeros,
    zeros_like,
)
from .backend import (
    BackendError, cupy_available, get_array_module, get_backend, get_default_dtype, manual_seed,
    set_default_dtype, use_backend,
)
from .backend.threads import get_num_threads, set_num_threads
from .ops import *  # noqa: F401,F403  (also attaches Tensor's operators)
from .ops import __all__ as _ops_all
from . import functional  # noqa: E402,F401  (attaches x.softmax and x.log_softmax)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import CheckpointError, load, save
from .profiler import Profiler, profile

__all__ = [
    "AnomalyError", "BackendError", "CheckpointError", "Profiler", "load", "profile", "save", "Context", "Function", "GradcheckError", "GraphError",
    "Tensor", "arange", "cupy_available", "detect_anomaly", "enable_grad", "full",
    "get_array_module", "get_backend", "get_default_dtype", "get_num_threads", "set_num_threads", "grad", "gradcheck", "gradgradcheck", "is_grad_enabled",
    "manual_seed", "no_grad", "ones", "ones_like", "rand", "randn", "set_default_dtype", "tensor",
    "use_backend", "zeros", "zeros_like", *_ops_all,
    # PyTorch's names: dtypes, devices, constructors (mt.float, mt.int, mt.bool: see the end of this file)
    "BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "InPlaceError", "IntTensor", "LongTensor",
    "device", "double", "dtype", "empty", "empty_like", "float16", "float32", "float64", "from_numpy", "full_like",
    "half", "int32", "int64", "long", "rand_like", "randn_like", "uint8",
]


# Subpackages and modules imported on first use (PEP 562 module __getattr__):
# they pull in sentencepiece, sacrebleu, tqdm or matplotlib, which the engine does not need.
# (``mt.gradcheck`` is the function, as ``torch.autograd.gradcheck``; its module is
# ``minitransformer.gradcheck``.)
_LAZY_SUBMODULES = (
    "autograd", "backend", "cli", "cuda", "data", "distributed", "exercises", "functional",
    "inference", "memory", "nn", "ops", "optim", "profiler",
    "serialization", "testing", "training", "viz",
)


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib  # noqa: PLC0415

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module     # later lookups find it directly
        return module
    raise AttributeError(f"module 'minitransformer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


# PyTorch's dtype names that are also Python builtins: mt.float (float32), mt.int (int32) and
# mt.bool are attributes of the package, but in no __all__ (``from minitransformer import *``
# would hide Python's float, int and bool).  Last in this file, which uses none of the builtins.
from .autograd.dtypes import bool, float, int  # noqa: E402, F401, A004
