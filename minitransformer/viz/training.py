"""Plots of a training run, written as PNG files into the run directory.

* ``loss.png``: training loss per update and validation loss per evaluation;
* ``lr.png``: the learning rate actually used at each update;
* ``bleu.png``: validation BLEU and exact-match accuracy per evaluation;
* ``attention_*.png``: attention heatmaps for one sample sentence.
"""
from __future__ import annotations

import json
import os


def _pyplot():
    from ._pyplot import pyplot  # noqa: PLC0415

    return pyplot()


def read_metrics(run_dir: str) -> tuple:
    """(update records, evaluation records) of a run's metrics.jsonl."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}: is it a training run directory?")
    steps, evals = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                break
            (evals if "valid_loss" in r else steps).append(r)
    return steps, evals


def plot_curves(run_dir: str) -> list:
    """Loss, learning-rate and BLEU curves; returns the paths written."""
    plt = _pyplot()
    steps, evals = read_metrics(run_dir)
    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8, label="training (label-smoothed)")
    if evals:
        ax.plot([r["step"] for r in evals], [r["valid_loss"] for r in evals], "o-", label="validation")
    ax.set_xlabel("update")
    ax.set_ylabel("loss per target token")
    ax.set_yscale("log")
    ax.legend()
    written.append(_save(fig, plt, run_dir, "loss.png"))

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([r["step"] for r in steps], [r["lr"] for r in steps])
    ax.set_xlabel("update")
    ax.set_ylabel("learning rate")
    written.append(_save(fig, plt, run_dir, "lr.png"))

    if evals:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot([r["step"] for r in evals], [r["bleu"] for r in evals], "o-", label="BLEU")
        ax.plot([r["step"] for r in evals], [100 * r["exact_match"] for r in evals], "s--", label="exact match (%)")
        ax.set_xlabel("update")
        ax.legend()
        written.append(_save(fig, plt, run_dir, "bleu.png"))
    return written


def _save(fig, plt, run_dir, name):
    path = os.path.join(run_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_run(run_dir: str, model=None, tokenizers=None, sample: str | None = None) -> list:
    """Every plot of a run: curves, plus attention heatmaps when a model and sentence are given."""
    written = plot_curves(run_dir)
    if model is not None and tokenizers is not None and sample:
        from .attention import attention_maps  # noqa: PLC0415

        written += attention_maps(model, tokenizers, sample, run_dir)
    return written
