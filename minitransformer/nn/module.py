"""Module: the base class of every layer, as in PyTorch.

A Module finds its parameters and sub-modules by looking at its attributes:
assigning ``self.weight = Parameter(...)`` or ``self.layer = Linear(...)`` in
``__init__`` is all it takes to register them, so ``parameters()``,
``state_dict()``, ``train()``/``eval()`` and ``zero_grad()`` see them.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import backend as _backend
from ..autograd import Tensor
from .parameter import Parameter


class StateDictError(KeyError):
    """load_state_dict found missing, unexpected or mis-shaped entries."""

    def __str__(self):
        return str(self.args[0])


class Module:
    """Base class of all layers; subclasses define ``__init__`` and ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # re-assigning a buffer (e.g. self.pe = new_table) keeps it a buffer
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        self._non_persistent_buffers.discard(name)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        self._non_persistent_buffers.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A tensor that belongs to the module (moved by ``to``) but is not trained.

        A persistent buffer is saved in ``state_dict``; a non-persistent one
        (``persistent=False``, e.g. a table recomputed by ``__init__`` such as
        the sinusoidal positional encoding) is not.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before register_buffer"
            )
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        object.__setattr__(self, name, value)
        self._buffers[name] = value
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    # ------------------------------------------------------------ traversal
    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = ""):
        """(name, Parameter) pairs, each shared parameter once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = ""):
        """(name, buffer) pairs, each shared buffer once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                yield (f"{module_name}.{name}" if module_name else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every sub-module (children first), then on self.

        The usual way to initialize weights::

            def init(m):
                if isinstance(m, Linear):
                    nn.init.zeros_(m.bias)
            model.apply(init)
        """
        for child in self._modules.values():
            child.apply(fn)
        fn(self)
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, backend: str) -> "Module":
        """Move every parameter and buffer to a backend, in place."""
        for _, t in list(self.named_parameters()) + list(self.named_buffers()):
            if t.backend != backend:
                t.data = t.to(backend).data
                t.grad = None
        return self

    # ------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer by dotted name (shared weights under each name)."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            buffers = [(n, b) for n, b in module._buffers.items() if n not in module._non_persistent_buffers]
            for name, t in list(module._parameters.items()) + buffers:
                if t is not None:
                    state[f"{module_name}.{name}" if module_name else name] = t
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> dict:
        """Copy values into this module's parameters and buffers.

        With ``strict=True`` any missing key, unexpected key or shape mismatch
        raises a StateDictError that lists them all; nothing is copied then.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = []
        for k, t in own.items():
            if k in state:
                shape = tuple(getattr(state[k], "shape", ()))
                if shape != t.shape:
                    mismatched.append(f"{k}: checkpoint {shape} vs model {t.shape}")
        problems = []
        if missing:
            problems.append("missing keys: " + ", ".join(missing))
        if unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if mismatched or (strict and problems):
            raise StateDictError(
                f"load_state_dict into {type(self).__name__} failed (a checkpoint from another "
                f"architecture?): " + " | ".join(problems)
            )
        for k, t in own.items():
            if k in state:
                value = state[k]
                value = value.data if isinstance(value, Tensor) else value
                xp = _backend.get_array_module(t.data)
                if _backend.backend_of(value) != t.backend:   # a checkpoint read on the host, say
                    value = xp.asarray(_backend.to_host(value))
                t.data[...] = xp.asarray(value, dtype=t.dtype)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        own = sum(p.numel() for p in self._parameters.values())
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not self._modules:
            return head + (f"  # {own:,} parameters" if own else "")
        lines = [f"{type(self).__name__}({self.extra_repr()}  # {self.num_parameters():,} parameters"]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)
