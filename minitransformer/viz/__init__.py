"""Plots (matplotlib; the file-only "Agg" backend outside notebooks).

The names are loaded lazily: ``import minitransformer.viz`` costs nothing, and
matplotlib is imported only when a plot is actually drawn.

    schedules.py   plot_lr_schedule, lr_schedule_values   a scheduler's lr curve
    training.py    plot_run, plot_curves                  a training run's plots
    attention.py   plot_attention, attention_maps         attention heatmaps
    notebook.py    setup_tutorial, pyplot                 the tutorials' setup cell
    graph.py       draw_graph, GraphDrawing               a computation's graph, SVG/PNG
"""
from __future__ import annotations

import importlib

_LAZY = {
    "plot_lr_schedule": "schedules",
    "lr_schedule_values": "schedules",
    "plot_run": "training",
    "plot_curves": "training",
    "plot_attention": "attention",
    "read_metrics": "training",
    "draw_graph": "graph",
    "GraphDrawing": "graph",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value          # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
