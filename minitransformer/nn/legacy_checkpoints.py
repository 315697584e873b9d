"""Checkpoints written before the layers took PyTorch's names, and how they still load.

Earlier versions of the engine had their own attention and layers:

* ``MultiHeadAttention`` kept the q, k and v projections as three Linears,
  ``q_proj``, ``k_proj``, ``v_proj``, where PyTorch's ``MultiheadAttention``
  packs them into one ``in_proj_weight`` = [W_q; W_k; W_v] (3 E, E) and one
  ``in_proj_bias`` (3 E,);
* the encoder and decoder layers kept their feed-forward network in a
  sub-module ``ff`` (``ff.linear1``, ``ff.linear2``), where PyTorch's layers
  hold ``linear1`` and ``linear2`` themselves;
* the models' configs said ``num_heads`` and ``d_ff`` where PyTorch says
  ``nhead`` and ``dim_feedforward``.

Everything else kept its name.  A model that saves its config
(``ConfigMixin``) upgrades an old config in ``from_config`` and an old
state in ``load_state_dict``, so ``load_run``, ``--resume`` and
``model.load_state_dict(old_state)`` all work on old runs.
``legacy_names`` tells, for a parameter of today, the names it had then
(the trainer uses it to carry an old optimizer state over as well).
"""
from __future__ import annotations

from ..autograd import Tensor
from ..backend import get_array_module

LEGACY_CONFIG_KEYS = {"num_heads": "nhead", "d_ff": "dim_feedforward"}
_PROJECTIONS = ("q_proj", "k_proj", "v_proj")


def upgrade_config(config: dict) -> dict:
    """A model config with its old keys (``num_heads``, ``d_ff``) renamed to today's."""
    out = {}
    for key, value in config.items():
        new = LEGACY_CONFIG_KEYS.get(key, key)
        if new in out or (new != key and new in config):
            raise ValueError(f"model config has both {key!r} and its new name {new!r}")
        out[new] = value
    return out


def _is_layer(parts: list) -> bool:
    """True when ``parts`` (a dotted name, split) end in ``layers.<i>``: a layer of a stack."""
    return len(parts) >= 2 and parts[-2] == "layers" and parts[-1].isdigit()


def legacy_names(name: str) -> list:
    """The names that held today's parameter ``name`` in an old checkpoint, in order.

    ``...in_proj_weight`` came from ``...q_proj.weight``, ``...k_proj.weight``,
    ``...v_proj.weight`` (stacked by rows), ``...in_proj_bias`` likewise from the
    three biases; a layer's ``linear1``/``linear2`` lived in its ``ff``.  Any other
    name is unchanged: ``[name]``.
    """
    parts = name.split(".")
    leaf = parts[-1]
    if leaf in ("in_proj_weight", "in_proj_bias"):
        kind = leaf[len("in_proj_"):]
        return [".".join(parts[:-1] + [proj, kind]) for proj in _PROJECTIONS]
    if len(parts) >= 4 and parts[-2] in ("linear1", "linear2") and _is_layer(parts[:-2]):
        return [".".join(parts[:-2] + ["ff"] + parts[-2:])]
    return [name]


def is_legacy_state(state) -> bool:
    """True for a state dict written by the old layers (q/k/v projections, ``ff.``)."""
    return any(f".{proj}." in key for key in state for proj in _PROJECTIONS) or \
        any(".ff.linear" in key for key in state)


def _array(value):
    return value.data if isinstance(value, Tensor) else value


def upgrade_state_dict(model, state: dict) -> dict:
    """``state`` with the old names of ``model``'s parameters replaced by today's.

    The q, k, v projections are stacked into ``in_proj_weight``/``in_proj_bias``;
    the feed-forward's names move out of ``ff``.  Keys that are neither old
    names nor the model's are kept, so that a strict ``load_state_dict`` still
    reports them.  A state of today is returned as it is.
    """
    if not is_legacy_state(state):
        return state
    out = dict(state)
    for name in model.state_dict():
        sources = legacy_names(name)
        if name in state or sources == [name] or not all(s in state for s in sources):
            continue
        values = [_array(state[s]) for s in sources]
        out[name] = get_array_module(*values).concatenate(values, axis=0) if len(values) > 1 else values[0]
        for s in sources:
            del out[s]
    return out
