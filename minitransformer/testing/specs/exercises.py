"""OpSpecs of the Functions that only the exercises define (``minitransformer.exercises``).

``Attention`` (exercise "Attention backward") computes what
``scaled_dot_product_attention`` does, as one fused op: its spec draws the
same cases and checks against the same NumPy reference.
``registry.all_specs()`` collects it with the other built-in specs.
"""
from __future__ import annotations

import dataclasses

from ...functional.fused_attention import fused_attention
from .fused_ops import ATTENTION_SPEC

EXERCISE_SPECS = (
    dataclasses.replace(
        ATTENTION_SPEC, name="FusedAttention",
        fn=lambda q, k, v, mask: fused_attention(q, k, v, mask),
        functions=("Attention",),
    ),
)
