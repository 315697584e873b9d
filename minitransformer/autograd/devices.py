"""Devices, by PyTorch's names: where a tensor's data live.

The engine keeps arrays on a *backend* (see ``minitransformer.backend``); a
PyTorch program names a *device*.  They map one to one:

=========  ===========  =====================================================
device     backend      arrays
=========  ===========  =====================================================
``cpu``    ``numpy``    NumPy arrays in host memory
``cuda``   ``cupy``     CuPy arrays in GPU memory (one GPU: ``cuda:0`` is the
                        current CuPy device)
``strict`` ``strict``   NumPy arrays that refuse every implicit host copy, as
                        device memory would: the tests' stand-in for ``cuda``
=========  ===========  =====================================================

So ``x.to("cuda")``, ``x.cuda()`` and ``mt.zeros(3, device="cuda")`` put
data on the GPU, ``"cpu"`` back on the host; the backend names themselves
(``x.to("cupy")``) are accepted too.  ``x.device`` is a :class:`device`,
which compares equal to its name: ``x.device == "cpu"``.
"""
from __future__ import annotations

from .. import backend as _backend

# device type -> backend name, and back
BACKEND_OF_DEVICE = {"cpu": "numpy", "cuda": "cupy", "strict": "strict"}
DEVICE_OF_BACKEND = {b: d for d, b in BACKEND_OF_DEVICE.items()}


class device:  # noqa: N801  (PyTorch's name: torch.device)
    """A device: its ``type`` ('cpu', 'cuda' or 'strict') and, for 'cuda', an ``index``.

    ``device("cuda:0")``, ``device("cuda", 0)``, ``device("cpu")``; a backend
    name (``device("cupy")``) gives its device.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {spec!r}")
        name = spec.strip().lower()
        if ":" in name:
            name, _, number = name.partition(":")
            if not number.isdigit() or index is not None:
                raise ValueError(f"device {spec!r}: write 'cuda:N' with N a device number")
            index = int(number)
        name = DEVICE_OF_BACKEND.get(name, name)
        if name not in BACKEND_OF_DEVICE:
            raise ValueError(
                f"unknown device {spec!r}: choose 'cpu' (NumPy), 'cuda' (CuPy) or 'strict', "
                f"or a backend name {_backend.BACKENDS}"
            )
        if index is not None and name != "cuda":
            raise ValueError(f"device {spec!r}: only 'cuda' devices have an index")
        self.type, self.index = name, index

    @property
    def backend(self) -> str:
        """The backend that holds this device's arrays ('numpy', 'cupy' or 'strict')."""
        return BACKEND_OF_DEVICE[self.type]

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        # 'cuda' (any index) matches 'cuda:0', as "the GPU" in a one-GPU engine
        return self.type == other.type and (self.index is None or other.index is None
                                            or self.index == other.index)

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


def backend_of_device(spec) -> str:
    """The backend name of a device spec: a :class:`device`, 'cpu', 'cuda:0', or a backend name.

    'cuda:N' must name CuPy's current device: this engine computes on one GPU.
    """
    dev = spec if isinstance(spec, device) else device(spec)
    if dev.type == "cuda":
        cupy = _backend.array_module("cupy")      # a clear BackendError without a GPU
        current = cupy.cuda.runtime.getDevice()
        if dev.index is not None and dev.index != current:
            raise _backend.BackendError(
                f"device {str(dev)!r}: this engine computes on one GPU, CuPy's current device "
                f"cuda:{current}; select another with cupy.cuda.Device({dev.index}).use() first"
            )
    return dev.backend


def device_of_array(array) -> device:
    """The device an array lives on (a CuPy array's GPU number is its index)."""
    name = _backend.backend_of(array)
    if name == "cupy":
        return device("cuda", array.device.id)
    return device(DEVICE_OF_BACKEND[name])


def resolve_backend(device_spec=None, backend=None) -> str | None:
    """The backend that a factory's ``device=`` or ``backend=`` names (None: the current one)."""
    if device_spec is not None and backend is not None:
        if backend_of_device(device_spec) != backend:
            raise ValueError(f"device={device_spec!r} and backend={backend!r} disagree; give one of them")
    if device_spec is not None:
        return backend_of_device(device_spec)
    return backend
