"""Training configuration: every option of ``minitransformer train`` in one dataclass.

A run is described by a ``TrainConfig``.  It comes from defaults, then a
config file (TOML or JSON), then command-line flags, each overriding the one
before.  Every option is checked here, in ``validate()``, which runs as the
config is made (``TrainConfig(...)``, ``from_dict``, ``dataclasses.replace``):
a config that exists is one that can work, and combinations that cannot are
refused before any time is spent.  Nothing downstream checks them again.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields

from ..data.batching import TOKEN_BUDGETS
from ..data.tasks import TASKS

OPTIMIZERS = ("adam", "adamw", "lamb", "sgd", "adagrad", "rmsprop")
SCHEDULES = ("noam", "inverse-sqrt", "cosine", "linear", "constant")


@dataclass
class TrainConfig:
    # --- data: a built-in task, or parallel files (plain/.gz, one sentence a line) or TSV
    task: str | None = "numbers"
    task_size: int = 6000                # training pairs generated for a built-in task
    src_train: str | None = None
    tgt_train: str | None = None
    src_valid: str | None = None
    tgt_valid: str | None = None
    train_tsv: str | None = None
    valid_tsv: str | None = None
    max_len: int = 128                   # drop pairs longer than this (in whitespace tokens)
    # --- tokenizer
    vocab_size: int = 64
    joint_vocab: bool = True
    tokenizer_type: str = "bpe"
    # --- model
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    norm_first: bool = False
    share_embeddings: bool = True
    tie_output: bool = True
    # --- loss and batches
    label_smoothing: float = 0.1
    max_tokens: int = 1280
    token_budget: str = "per-side"       # how max_tokens counts: "per-side" (fairseq) or "both-sides"
    max_sentences: int | None = None
    accum_steps: int = 1
    # --- optimisation
    optimizer: str = "adam"
    lr: float = 3e-3                     # with noam: the peak, reached at the end of warmup
    betas: tuple = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 0.0
    schedule: str = "noam"
    warmup: int = 200
    clip_norm: float | None = 1.0
    # --- how long
    epochs: int | None = None
    max_steps: int | None = 1200
    time_budget: float | None = None     # seconds of training; None: no limit
    # --- evaluation and stopping
    eval_every: int = 200
    save_every: int | None = None        # default: eval_every
    patience: int | None = None          # evaluations without improvement before stopping
    early_stop_metric: str = "valid_loss"
    eval_sentences: int = 200            # sentences translated for BLEU at each evaluation
    beam: int = 1
    decode_max_len: int = 128            # longest translation at evaluation, as translate's --max-len
    # --- run
    backend: str | None = None           # None: the current backend (MINITRANSFORMER_BACKEND)
    dtype: str = "float32"               # float64 for exact comparisons (tests); never faster
    seed: int = 0
    out: str = "runs/latest"
    resume: bool = False
    detect_anomaly: bool = False
    on_nonfinite: str = "stop"           # or "skip": drop that update and go on
    progress: bool = True
    log_every: int = 10
    # --- data-parallel training over MPI (docs/distributed.md); an mpirun launch is detected anyway
    distributed: bool = False            # require MPI: fail clearly if mpi4py is missing
    collective_timeout: float = 300.0    # seconds a collective may wait before the job is aborted
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config option(s): {', '.join(unknown)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    @classmethod
    def from_file(cls, path: str) -> dict:
        """Read a TOML or JSON config file into a dict of options (dashes become underscores)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"config file not found: {path}")
        with open(path, "rb") as f:
            raw = f.read()
        try:
            if path.endswith(".json"):
                data = json.loads(raw.decode("utf-8"))
            else:
                try:
                    import tomllib  # noqa: PLC0415  (Python >= 3.11)
                except ModuleNotFoundError:  # pragma: no cover
                    import tomli as tomllib  # noqa: PLC0415
                data = tomllib.loads(raw.decode("utf-8"))
        except Exception as exc:  # a parse error of either format
            raise ValueError(f"config file {path} could not be parsed: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} must hold a table of options")
        return {k.replace("-", "_"): v for k, v in data.items()}

    # ------------------------------------------------------------ validation
    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise ValueError, naming the flag, for an option or combination that cannot work.

        Called as the config is made; call it again after changing a field by hand.
        """
        def need(cond, message):
            if not cond:
                raise ValueError(message)

        files = (self.src_train, self.tgt_train)
        need(all(files) or not any(files), "--src-train and --tgt-train go together")
        need(bool(self.src_valid) == bool(self.tgt_valid), "--src-valid and --tgt-valid go together")
        # validation files are read only with training files of the same kind: refuse, not ignore
        need(not (self.train_tsv and self.src_train),
             "give the training data as --train-tsv or as --src-train/--tgt-train, not both")
        need(not self.src_valid or self.src_train, "--src-valid/--tgt-valid need --src-train/--tgt-train")
        need(not self.valid_tsv or self.train_tsv, "--valid-tsv needs --train-tsv")
        need(self.uses_files or self.task in TASKS,
             f"--task must be one of {', '.join(TASKS)} (or give training files), got {self.task!r}")
        need(self.task_size >= 1 and self.max_len >= 1, "--task-size and --max-len must be positive")
        need(self.tokenizer_type in ("bpe", "unigram"),
             f"--tokenizer-type must be bpe or unigram, got {self.tokenizer_type!r}")
        need(self.accum_steps >= 1, f"--accum-steps must be >= 1, got {self.accum_steps}")
        need(self.max_tokens is None or self.max_tokens >= 1, f"--max-tokens must be >= 1, got {self.max_tokens}")
        need(self.token_budget in TOKEN_BUDGETS,
             f"--token-budget must be one of {', '.join(TOKEN_BUDGETS)}, got {self.token_budget!r}")
        need(self.d_model >= 1 and self.heads >= 1, "--d-model and --heads must be positive")
        need(self.d_model % self.heads == 0,
             f"--d-model {self.d_model} is not divisible by --heads {self.heads}")
        need(self.layers >= 1 and self.d_ff >= 1, "--layers and --d-ff must be positive")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0.0 <= self.label_smoothing < 1.0, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        need(self.lr > 0 and math.isfinite(self.lr), f"--lr must be positive and finite, got {self.lr}")
        need(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        need(self.warmup >= 0, f"--warmup must be >= 0, got {self.warmup}")
        need(self.schedule != "noam" or self.warmup >= 1, "--schedule noam needs --warmup >= 1")
        need(self.clip_norm is None or self.clip_norm > 0, f"--clip-norm must be positive, got {self.clip_norm}")
        need(self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}")
        need(self.patience is None or self.patience >= 1, f"--patience must be >= 1, got {self.patience}")
        need(self.early_stop_metric in ("valid_loss", "bleu"), "--early-stop-metric must be valid_loss or bleu")
        need(self.beam >= 1, f"--beam must be >= 1, got {self.beam}")
        need(self.vocab_size >= 8, f"--vocab-size must be >= 8, got {self.vocab_size}")
        need(self.save_every is None or self.save_every >= 1, f"--save-every must be >= 1, got {self.save_every}")
        need(self.eval_sentences >= 0, f"--eval-sentences must be >= 0, got {self.eval_sentences}")
        need(self.decode_max_len >= 1, f"decode_max_len must be >= 1, got {self.decode_max_len}")
        need(self.backend in (None, "numpy", "cupy", "strict"),
             f"--backend must be numpy, cupy or strict, got {self.backend!r}")
        need(self.dtype in ("float32", "float64"), f"--dtype must be float32 or float64, got {self.dtype!r}")
        need(self.collective_timeout > 0, f"--collective-timeout must be positive, got {self.collective_timeout}")
        need(self.on_nonfinite in ("stop", "skip"), "--on-nonfinite must be stop or skip")
        need(any(x is not None for x in (self.epochs, self.max_steps, self.time_budget)),
             "give at least one of --epochs, --max-steps, --time-budget")
        need(self.max_steps is None or self.max_steps >= 1, f"--max-steps must be >= 1, got {self.max_steps}")
        need(self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}")
        need(self.time_budget is None or self.time_budget > 0, "--time-budget must be positive")
        need(self.seed >= 0, f"--seed must be >= 0, got {self.seed}")
        if self.share_embeddings or self.tie_output:
            need(self.joint_vocab or not self.share_embeddings,
                 "--share-embeddings needs a joint vocabulary (drop --separate-vocab)")
        return self

    @property
    def uses_files(self) -> bool:
        return bool(self.src_train or self.train_tsv)
