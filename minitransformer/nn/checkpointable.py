"""ConfigMixin: a model that a checkpoint can build again, and that loads older checkpoints.

``model.config`` / ``model.get_config()`` are the constructor's keyword
arguments (``minitransformer train`` saves them as ``model_config``);
``Model.from_config(config)`` builds the same architecture again.  Configs
and states written by earlier versions, with other names, are upgraded on
the way in (``legacy_checkpoints.py``).
"""
from __future__ import annotations

from .legacy_checkpoints import upgrade_config, upgrade_state_dict


class ConfigMixin:
    """``get_config``, ``from_config``, and a ``load_state_dict`` that also takes old names.

    Put it before ``Module`` among the bases: ``class Model(ConfigMixin, Module)``.
    """

    config: dict

    def get_config(self) -> dict:
        return dict(self.config)

    @classmethod
    def from_config(cls, config: dict):
        return cls(**upgrade_config(config))

    def load_state_dict(self, state: dict, strict: bool = True) -> dict:
        """Module.load_state_dict, after renaming an old checkpoint's keys to today's."""
        return super().load_state_dict(upgrade_state_dict(self, state), strict=strict)
