"""Parameter: a Tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

import numpy

from ..autograd import Tensor
from ..autograd.tensor import _to_array
from ..backend import backend_of


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered by the Module holding it.

    Built from an array, a list or a Tensor (its data are copied); float data
    get the default float dtype.
    """

    def __init__(self, data, requires_grad: bool = True):
        source = data.data if isinstance(data, Tensor) else data
        # a device array stays on its own backend; lists, numbers and host NumPy
        # arrays go to the current one
        on_device = hasattr(source, "shape") and type(source) is not numpy.ndarray
        backend = backend_of(source) if on_device else None
        super().__init__(_to_array(data, None, backend), requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
