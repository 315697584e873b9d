"""Resuming a run written before the layers took PyTorch's names: its optimizer state.

The model upgrades an old state by itself (``nn/legacy_checkpoints.py``):
the q, k, v projections of each attention become one ``in_proj_weight`` (and
``in_proj_bias``), stacked by rows.  The optimizer's state must follow, for
``--resume`` to go on where the run stopped: it names parameters by their
position (0, 1, ...) in the model's parameter order of the time, and three
old parameters are now one.  Adam's moments are elementwise, so the moments
of the packed parameter are those of q, k and v stacked the same way; the
step count is the same for all three.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..nn.legacy_checkpoints import legacy_names


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and len(value.shape) > 0


def _stacked(states: list) -> dict:
    """One parameter's optimizer state from the states of the old parameters it stacks."""
    if len(states) == 1:
        return dict(states[0])
    out = {}
    for key, value in states[0].items():
        values = [s[key] for s in states]
        out[key] = get_array_module(*values).concatenate(values, axis=0) if _is_array(value) else value
    return out


def upgrade_optimizer_state(model, old_model_state: dict, state: dict) -> dict:
    """The optimizer snapshot ``state`` of an old run, renumbered for ``model``'s parameters today.

    ``old_model_state`` is the old run's model state dict, whose keys give the
    old parameter order: its parameters in order, each once (a table shared
    by source and target appears twice in a state dict, once among the
    parameters).
    """
    own = dict(model.named_parameters())
    not_parameters = set(model.state_dict()) - set(own)     # shared tables, buffers: unchanged names
    old_order = [name for name in old_model_state if name not in not_parameters]
    old_index = {name: i for i, name in enumerate(old_order)}
    saved = {int(k): v for k, v in state["state"].items()}
    counted = sum(len(g["params"]) for g in state["param_groups"])
    if counted != len(old_order):
        raise ValueError(f"the old optimizer state holds {counted} parameters, but the old model state names "
                         f"{len(old_order)}: they do not come from the same run")
    sources = {}
    for new, name in enumerate(own):
        names = legacy_names(name)
        if not all(n in old_index for n in names):
            names = [name]                      # a name that did not change
        if not all(n in old_index for n in names):
            raise ValueError(f"the old checkpoint has no parameter for {name} (nor {', '.join(legacy_names(name))})")
        sources[new] = [old_index[n] for n in names]
    new_state = {}
    for new, olds in sources.items():
        if all(i in saved for i in olds):
            new_state[new] = _stacked([saved[i] for i in olds])
    groups = []
    for group in state["param_groups"]:
        members = {int(i) for i in group["params"]}
        packed = dict(group)
        packed["params"] = [new for new, olds in sources.items() if set(olds) <= members]
        groups.append(packed)
    return {"state": new_state, "param_groups": groups}
