"""Containers, as PyTorch's: Sequential runs modules in order; ModuleList holds a
list of them, ModuleDict a dict of them.

A container registers what it holds as sub-modules, under the names
PyTorch gives them ("0", "1", ... for a list; the keys for a dict), so that
``parameters()``, ``state_dict()`` and ``train()``/``eval()`` of the model
that holds the container see them: ``model.layers.0.weight`` in a
``state_dict`` is the weight of the first module of the ModuleList
``model.layers``.  A plain Python list or dict of modules would hide them.
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Mapping

from .module import Module


class _IndexedModules(Module):
    """What Sequential and ModuleList share: modules under the names "0", "1", ...
    (renumbered after a deletion or an insertion, as PyTorch does)."""

    def _index(self, idx) -> int:
        idx = operator.index(idx)
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {n} modules")
        return idx % n

    def _renumber(self, modules) -> None:
        """Hold exactly ``modules``, under the names "0", "1", ..."""
        for name in list(self._modules):
            delattr(self, name)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module: Module) -> None:
        self.add_module(list(self._modules)[self._index(idx)], module)

    def __delitem__(self, idx) -> None:
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            del modules[idx]
        else:
            del modules[self._index(idx)]
        self._renumber(modules)

    def append(self, module: Module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, idx=-1) -> Module:
        module = self[idx]
        del self[idx]
        return module

    def __dir__(self):
        return [name for name in super().__dir__() if not name.isdigit()]


class Sequential(_IndexedModules):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``.

    The modules are named "0", "1", ... or, given one ``OrderedDict``, by its
    keys: ``Sequential(OrderedDict([("fc", Linear(4, 8)), ("act", ReLU())]))``.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, idx):
        """A module by position, or a slice as a new Sequential of the same modules and names."""
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def __add__(self, other: "Sequential") -> "Sequential":
        if not isinstance(other, Sequential):
            raise TypeError(f"Sequential: can only add a Sequential, got {type(other).__name__}")
        return Sequential(*self, *other)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_IndexedModules):
    """A list of modules whose parameters the parent module sees.

    Indexing, slicing (a new ModuleList of the same modules), ``append``,
    ``extend``, ``insert``, ``pop``, ``del``, ``len``, iteration and ``+``, as
    a list.  It has no ``forward``: the module that holds it decides how
    to run its modules.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        return ModuleList([*self, *other])


class ModuleDict(Module):
    """A dict of modules whose parameters the parent module sees, in insertion order.

    ``d[key]``, ``d[key] = module``, ``del d[key]``, ``key in d``, ``len``,
    iteration over the keys, ``keys()``, ``values()``, ``items()``,
    ``update(...)``, ``pop(key)`` and ``clear()``, as a dict.  Keys are
    strings without "."; a key that names an attribute of the module
    (``"train"``, ``"forward"``, ...) is refused, as in PyTorch.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]

    def update(self, modules) -> None:
        """Add or replace modules from a mapping, or from an iterable of (key, module) pairs."""
        if isinstance(modules, (Mapping, ModuleDict)):
            pairs = modules.items()
        else:
            pairs = []
            for i, pair in enumerate(modules):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise TypeError(f"ModuleDict.update: element #{i} should be a (key, module) pair, "
                                    f"got {type(pair).__name__}")
                pairs.append(pair)
        for key, module in pairs:
            self[key] = module
