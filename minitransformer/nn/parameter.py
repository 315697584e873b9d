"""Parameter: a Tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..autograd.tensor import _to_array
from ..backend import backend_of


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered by the Module holding it.

    Built from a Tensor (``nn.Parameter(mt.randn(3, 4))``, keeping its dtype,
    as PyTorch), an array or a list (float data get the default float
    dtype); with no data, an empty one.  The data are copied: unlike
    PyTorch's, a Parameter never shares memory with the Tensor it came from.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = numpy.zeros(0)
        source = data.data if isinstance(data, Tensor) else data
        # a device array stays on its own backend; lists, numbers and host NumPy
        # arrays go to the current one
        on_device = hasattr(source, "shape") and type(source) is not numpy.ndarray
        backend = backend_of(source) if on_device else None
        dtype = source.dtype if isinstance(data, Tensor) else None
        super().__init__(_to_array(data, dtype, backend), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
