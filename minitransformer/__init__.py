"""minitransformer: a from-scratch deep-learning engine to learn Transformers with.

    import minitransformer as mt
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x @ x).sum().backward()
    x.grad

Layers, from the bottom up: ``backend`` (NumPy or CuPy) -> ``autograd``
(Tensor, Function, backward) -> ``ops`` (the differentiable operations) ->
``functional`` -> ``nn`` -> ``optim`` -> ``training`` -> ``cli``.
"""
from __future__ import annotations

import os as _os

# OpenBLAS (NumPy's BLAS) keeps its idle threads busy-waiting for about 0.1 s
# after every matrix product; on a small machine they then hold the cores
# that element-wise work needs (minitransformer.parallel spreads it over
# threads).  4 is the shortest wait OpenBLAS accepts.  It takes effect only
# if NumPy is first imported after this line; an explicit setting wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"

from .autograd import (
    AnomalyError, Context, Function, GraphError, Tensor, arange, detect_anomaly, enable_grad,
    full, is_grad_enabled, no_grad, ones, ones_like, rand, randn, tensor, zeros, zeros_like,
)
from .backend import (
    BackendError, cupy_available, get_array_module, get_backend, get_default_dtype, manual_seed,
    set_default_dtype, use_backend,
)
from .ops import *  # noqa: F401,F403  (also attaches Tensor's operators)
from .ops import __all__ as _ops_all
from .gradcheck import GradcheckError, gradcheck
from .serialization import CheckpointError, load, save
from .profiler import Profiler, profile

__all__ = [
    "AnomalyError", "BackendError", "CheckpointError", "Profiler", "load", "profile", "save", "Context", "Function", "GradcheckError", "GraphError",
    "Tensor", "arange", "cupy_available", "detect_anomaly", "enable_grad", "full",
    "get_array_module", "get_backend", "get_default_dtype", "gradcheck", "is_grad_enabled",
    "manual_seed", "no_grad", "ones", "ones_like", "rand", "randn", "set_default_dtype", "tensor",
    "use_backend", "zeros", "zeros_like", *_ops_all,
]
