"""Optimizer: the base class of every update rule, with PyTorch's interface.

    opt = Adam(model.parameters(), lr=1e-3)
    for batch in data:
        opt.zero_grad()            # p.grad = None for every parameter
        loss = model(batch)
        loss.backward()            # fills p.grad
        opt.step()                 # p.data <- p.data - (the rule's update)

Parameters live in *parameter groups*: a list of dicts, each with its
``"params"`` and its own hyper-parameters (``"lr"``, ``"weight_decay"``...);
keys a group leaves out are filled from the optimizer's ``defaults``.  A
scheduler changes ``opt.param_groups[i]["lr"]`` between steps.

Per-parameter memory (moments, step counts) lives in ``opt.state[p]``, a
dict created the first time ``p`` gets a gradient.  Subclasses write only
``_update(param, grad, state, group)``, which works on the RAW backend arrays
(``p.data``, ``p.grad.data``), in place: an update is not part of any model,
so it must never build an autograd graph.
"""
from __future__ import annotations

import math
from numbers import Real

from ..autograd import Tensor, enable_grad
from ..backend import backend_of, get_array_module, to_host
from ..backend.threads import run_parallel, shares_by_size

# hyper-parameters that make sense only when >= 0, wherever a rule uses them
_NON_NEGATIVE = ("lr", "eps", "weight_decay", "momentum", "dampening", "lr_decay",
                 "initial_accumulator_value", "alpha")


class Optimizer:
    """Base class: parameter groups, state, zero_grad, step, state_dict.

    Args:
        params: an iterable of Parameters, or of dicts (parameter groups)
            each holding ``"params"`` and optional hyper-parameters.
        defaults: the hyper-parameters a group gets when it does not set them.
    """

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        self.defaults = dict(defaults)
        self.state: dict = {}          # Parameter -> dict of its arrays and step count
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params must be an iterable of Parameters or of dicts, got a single "
                f"Tensor of shape {params.shape} (wrap it in a list: [p])"
            )
        if isinstance(params, dict):
            params = [params]
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list (did the model register no Parameter?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (e.g. when unfreezing layers)."""
        name = type(self).__name__
        index = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: parameter group {index} has no 'params' key")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameter group {index}: params must be an ordered sequence, not a set")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: parameter group {index} has an empty parameter list")
        seen = {id(p): i for i, g in enumerate(self.param_groups) for p in g["params"]}
        for j, p in enumerate(params):
            where = f"{name}: parameter {j} of group {index}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{where} is a {type(p).__name__}, not a Tensor/Parameter")
            if p.dtype.kind != "f":
                raise ValueError(f"{where} has dtype {p.dtype} (shape {p.shape}); only float "
                                 "parameters can be optimized")
            if not p.is_leaf:
                raise ValueError(f"{where} (shape {p.shape}) is not a leaf tensor: it was computed "
                                 "by an op; optimize the tensor it came from")
            if id(p) in seen:
                other = seen[id(p)]
                raise ValueError(f"{where} (shape {p.shape}) is given twice: it is already in "
                                 f"group {other}; each parameter may appear only once")
            seen[id(p)] = index
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate_group(group, index)
        self.param_groups.append(group)

    def _validate_group(self, group: dict, index: int) -> None:
        """Check the hyper-parameters of one group; subclasses add their own rules."""
        name = type(self).__name__
        for key in _NON_NEGATIVE:
            if key not in group:
                continue
            value = group[key]
            if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value) \
                    or value < 0:
                what = "learning rate " if key == "lr" else ""
                raise ValueError(f"{name}: invalid {what}{key}={value!r} in parameter group "
                                 f"{index} (must be a finite number >= 0)")
            group[key] = float(value)    # a Python float never upcasts a float32 array
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
            for i, b in enumerate(betas):
                if not isinstance(b, Real) or not 0.0 <= b < 1.0:
                    raise ValueError(f"{name}: invalid beta{i + 1}={b!r} in betas={tuple(betas)!r} "
                                     f"of parameter group {index} (must be in [0, 1))")
            group["betas"] = (float(betas[0]), float(betas[1]))

    # ------------------------------------------------------------ the update
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (or zero them in place when set_to_none=False)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; parameters whose grad is None are skipped.

        ``closure`` (optional) re-evaluates the model and returns the loss,
        as in PyTorch; its loss is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        updates = [(p.data, p.grad.data, self.state.setdefault(p, {}), group)
                   for group in self.param_groups for p in group["params"] if p.grad is not None]
        # each parameter's update is independent of the others': on the CPU, shares of
        # them run on separate threads (NumPy runs each element-wise op on one core);
        # an update goes over its arrays about ten times
        shares = shares_by_size(updates, [param for param, *_ in updates], passes=10)

        def update_share(share):
            for param, grad, state, group in share:
                self._update(param, grad, state, group)

        run_parallel(update_share, shares)
        return loss

    def _update(self, param, grad, state: dict, group: dict) -> None:
        """Change the array ``param`` in place, given ``grad``; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} defines no _update()")

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """A snapshot made of plain data only, as in PyTorch.

        ``{"state": {index: {"step": int, "exp_avg": ndarray, ...}},
        "param_groups": [{"lr": ..., "params": [index, ...]}, ...]}`` where a
        parameter is named by its position across the groups (0, 1, ...).
        Arrays are NumPy copies (also for CuPy parameters), so the snapshot
        does not change when training goes on and can be written to npz.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            state[index[id(p)]] = {k: _to_plain(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a snapshot from ``state_dict()`` into an optimizer over the same parameters.

        Parameters are matched by position, so the groups must have the same
        sizes.  State keys may be strings (as after a JSON round trip);
        arrays are copied onto each parameter's backend with its dtype.
        """
        name = type(self).__name__
        saved_groups = state_dict.get("param_groups")
        if saved_groups is None or "state" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected keys 'state' and 'param_groups', "
                             f"got {sorted(state_dict)}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the snapshot has {len(saved_groups)} parameter "
                             f"groups, this optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(saved['params'])} "
                                 f"parameters in the snapshot but {len(group['params'])} here")
            for j, p in zip(saved["params"], group["params"]):
                by_index[int(j)] = p
        new_state = {}
        for key, s in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key} which no group holds")
            new_state[p] = {k: _from_plain(v, p, k, name) for k, v in s.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            params = group["params"]
            group.clear()
            group.update({k: (tuple(v) if k == "betas" else v) for k, v in saved.items()
                          if k != "params"})
            group["params"] = params
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines + [")"])


def _to_plain(value):
    """A state entry as plain data: arrays become NumPy copies."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        host = to_host(value)   # a copy off the device, or the NumPy array itself
        return host.copy() if host is value else host
    return value


def _from_plain(value, p: Tensor, key: str, name: str):
    """A saved state entry back on the parameter's backend and dtype."""
    if key == "step":
        return int(value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if tuple(value.shape) != p.shape:
            raise ValueError(f"{name}.load_state_dict: state {key!r} has shape {tuple(value.shape)} "
                             f"but its parameter has shape {p.shape}")
        xp = get_array_module(p.data)
        if backend_of(value) != p.backend:
            value = xp.asarray(to_host(value))
        return xp.array(value, dtype=p.dtype, copy=True)
    return value
