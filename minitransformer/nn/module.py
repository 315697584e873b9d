"""Module: the base class of every layer, as in PyTorch.

A Module finds its parameters and sub-modules by looking at its attributes:
assigning ``self.weight = Parameter(...)`` or ``self.layer = Linear(...)`` in
``__init__`` is all it takes to register them, so ``parameters()``,
``state_dict()``, ``train()``/``eval()`` and ``zero_grad()`` see them.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy

from .. import backend as _backend
from ..autograd import Tensor
from ..autograd.tensor import RemovableHandle
from .parameter import Parameter

BACKENDS = ("numpy", "cupy", "strict")


class StateDictError(KeyError):
    """load_state_dict found missing, unexpected or mis-shaped entries."""

    def __str__(self):
        return str(self.args[0])


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict(strict=False)`` did not match, as PyTorch's
    ``_IncompatibleKeys``: ``missing, unexpected = model.load_state_dict(...)``."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _check_name(owner, kind: str, name) -> None:
    """A registered name is a non-empty string without '.', not already another attribute (PyTorch's rules)."""
    if not isinstance(name, str):
        raise TypeError(f"{type(owner).__name__}: {kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f"{type(owner).__name__}: {kind} name can't be empty or contain \".\", got: {name!r}")
    registered = name in owner._parameters or name in owner._modules or name in owner._buffers
    if hasattr(owner, name) and not registered:
        raise KeyError(f"{type(owner).__name__}: attribute {name!r} already exists")


class Module:
    """Base class of all layers; subclasses define ``__init__`` and ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_forward_pre_hooks", [])
        object.__setattr__(self, "_forward_hooks", [])
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        """Register Parameters, Modules and buffers by assignment, as PyTorch does.

        Assigning a Parameter that another module holds *shares* it (weight
        tying: ``lm_head.weight = wte.weight``).  A name registered as a
        parameter takes only a Parameter or None, a sub-module's name only a
        Module or None; a buffer's name takes a Tensor (or an array) or None.
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                f"{name!r} (a Parameter or None expected)")
            self._parameters[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None expected)")
            self._modules[name] = None
        elif name in self._buffers:
            # re-assigning a buffer (e.g. self.pe = new_table) keeps it a buffer
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(value)
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def _forget(self, name: str, keep=None) -> None:
        """Unregister ``name`` from every table but ``keep`` (where it keeps its place, as in PyTorch)."""
        for table in (self._parameters, self._modules, self._buffers):
            if table is not keep:
                table.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def __delattr__(self, name):
        self._forget(name)
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
        _check_name(self, "buffer", name)
        if name in self._parameters or name in self._modules:
            raise KeyError(f"{type(self).__name__}: attribute {name!r} already exists")
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        object.__setattr__(self, name, value)
        self._buffers[name] = value
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_parameter(self, name: str, param) -> None:
        """Add a Parameter (or None) under ``name``, as assigning ``self.<name> = param`` does."""
        _check_name(self, "parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(param).__name__} as parameter "
                            f"{name!r} (a Parameter or None expected)")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module) -> None:
        """Add a sub-module (or None) under ``name``, as assigning ``self.<name> = module`` does."""
        _check_name(self, "module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {type(module).__name__} is not a Module subclass")
        self._forget(name, keep=self._modules)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    def register_module(self, name: str, module) -> None:
        self.add_module(name, module)

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at a dotted path, e.g. ``model.get_submodule("encoder.layers.0")``."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no sub-module {part!r} (looking up {target!r})")
            module = module._modules[part]
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter {name!r} (looking up {target!r})")
        return module._parameters[name]

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        """``forward``, with the hooks: each pre-hook may replace the inputs
        (``hook(module, args)``), each hook the output (``hook(module, args, output)``)."""
        for hook in list(self._forward_pre_hooks):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        self._forward_pre_hooks.append(hook)
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward (to record activations,
        say); ``handle.remove()`` takes it off."""
        self._forward_hooks.append(hook)
        return RemovableHandle(self._forward_hooks, hook)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    # ------------------------------------------------------------ traversal
    # As in PyTorch, a module or tensor reachable by two paths (a shared layer,
    # tied weights) is listed once, under the first name found; state_dict
    # alone lists it under every name.
    def children(self):
        for _, child in self.named_children():
            yield child

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) pairs: this module (name ``prefix``), then its sub-modules, depth first."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(t))
                yield (f"{module_name}.{name}" if module_name else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, Parameter) pairs, each shared parameter once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, buffer) pairs, each shared buffer once."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every sub-module (children first), then on self.

        The usual way to initialize weights::

            def init(m):
                if isinstance(m, Linear):
                    nn.init.zeros_(m.bias)
            model.apply(init)
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout on) for this module and every sub-module; ``train(False)`` is ``eval()``."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: mode is expected to be a boolean, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Switch gradients on or off for every parameter (``False`` freezes the module)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            elif isinstance(p.grad, Tensor):
                p.grad = Tensor(_backend.get_array_module(p.grad.data).zeros_like(p.grad.data))
            else:
                p.grad = _backend.get_array_module(p.grad).zeros_like(p.grad)

    def to(self, target) -> "Module":
        """Move every parameter and buffer, in place, to a backend (``'numpy'``, ``'cupy'``,
        ``'strict'``), or cast the floating ones to a float dtype (``'float64'``, ``numpy.float32``)."""
        if isinstance(target, str) and target in BACKENDS:
            for t in self._tensors():
                if t.backend != target:
                    t.data = t.to(target).data
                    t.grad = None
            return self
        try:
            dtype = numpy.dtype(target)
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}.to: expected a backend {BACKENDS} or a float dtype, "
                             f"got {target!r}")
        for t in self._tensors():
            if t.dtype.kind == "f" and t.dtype != dtype:
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = t.grad.astype(dtype)
        return self

    def double(self) -> "Module":
        """Cast the floating parameters and buffers to float64, in place."""
        return self.to("float64")

    def float(self) -> "Module":
        """Cast the floating parameters and buffers to float32, in place."""
        return self.to("float32")

    def _tensors(self):
        return [t for _, t in list(self.named_parameters()) + list(self.named_buffers())]

    # ------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer by dotted name; a shared one under each of its names.

        The values share memory with the module's tensors but are detached
        from the graph, as PyTorch's (``keep_vars=True``: the Parameters themselves).
        """
        state = OrderedDict() if destination is None else destination
        buffers = [(n, b) for n, b in self._buffers.items() if n not in self._non_persistent_buffers]
        for name, t in list(self._parameters.items()) + buffers:
            if t is not None:
                state[prefix + name] = t if keep_vars else t.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(state, f"{prefix}{name}.", keep_vars)
        return state

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers, in place (tied weights stay tied).

        With ``strict=True`` any missing key, unexpected key or shape mismatch
        raises a StateDictError that lists them all; nothing is copied then.
        A shape mismatch raises even with ``strict=False``.  Returns the
        missing and unexpected keys, as PyTorch's ``(missing_keys, unexpected_keys)``.
        """
        state = state_dict
        own = self.state_dict(keep_vars=True)
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
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        own = sum(p.data.size for p in self._parameters.values() if p is not None)
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not self._modules:
            return head + (f"  # {own:,} parameters" if own else "")
        lines = [f"{type(self).__name__}({self.extra_repr()}  # {self.num_parameters():,} parameters"]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        lines.append(")")
        return "\n".join(lines)
