"""The training loop of ``minitransformer train``.

    Trainer(config).run()

sets up data, tokenizers, model, optimizer and schedule, then repeats
updates (``steps.train_step``) until the step, epoch or time budget runs out
or early stopping says so; every ``eval_every`` updates it measures the
validation loss, perplexity, BLEU and exact-match accuracy, and every
``save_every`` updates it writes the last checkpoint (and the best one).
A checkpoint holds everything needed to continue exactly where it was taken:
model, optimizer, scheduler, random generator, data position and counters,
so ``--resume`` after a crash gives bit-identical parameters on the CPU.
"""
from __future__ import annotations

import glob
import json
import os
import time

from .. import backend as _backend
from ..autograd import detect_anomaly
from ..data import BatchIterator, PAD_ID
from ..inference import translate_pairs
from ..nn import TransformerTranslator
from ..nn.legacy_checkpoints import is_legacy_state
from ..serialization import load, save
from .advice import setup_warnings, stop_warning
from .config import TrainConfig
from .data_setup import prepare
from .early_stopping import EarlyStopping
from .legacy_checkpoints import upgrade_optimizer_state
from .evaluation import evaluate_loss, translation_scores
from .metrics import MetricsLog, perplexity
from .optimizers import build_optimizer, build_scheduler
from .steps import NonFiniteLossError, train_step

LAST, BEST = "last.ckpt", "best.ckpt"
# with --on-nonfinite skip: a run whose updates keep failing has diverged for good
MAX_SKIPS_IN_A_ROW = 50


class Trainer:
    def __init__(self, config: TrainConfig, log=print):
        self.config = config   # checked when it was made (TrainConfig.__post_init__)
        if self.config.backend is None:  # follow mt.use_backend / MINITRANSFORMER_BACKEND
            self.config.backend = _backend.get_backend()
        self.log = log
        self.run_dir = config.out

    # ------------------------------------------------------------------ setup
    def _setup(self):
        c = self.config
        os.makedirs(self.run_dir, exist_ok=True)
        last = os.path.join(self.run_dir, LAST)
        resuming = c.resume and os.path.exists(last)
        if c.resume and not resuming:
            self.log(f"--resume: no checkpoint in {self.run_dir} yet; starting a new run")
        _backend.use_backend(c.backend)
        _backend.set_default_dtype(c.dtype)
        _backend.manual_seed(c.seed)
        self.data = self._prepare_data(resuming)
        src_tok, tgt_tok = self.data.src_tok, self.data.tgt_tok
        self.src_ids = src_tok.encode_batch([s for s, _ in self.data.train], add_eos=True)
        self.tgt_ids = tgt_tok.encode_batch([t for _, t in self.data.train])
        self.valid_src = src_tok.encode_batch([s for s, _ in self.data.valid], add_eos=True)
        self.valid_tgt = tgt_tok.encode_batch([t for _, t in self.data.valid])
        budget = dict(max_tokens=c.max_tokens, max_sentences=c.max_sentences, token_budget=c.token_budget)
        self.batches = BatchIterator(self.src_ids, self.tgt_ids, seed=c.seed, **budget)
        self.valid_batches = BatchIterator(self.valid_src, self.valid_tgt, shuffle=False, **budget)
        longest = max(max(len(x) for x in self.src_ids), max(len(x) for x in self.tgt_ids) + 1)
        self.model = TransformerTranslator(
            src_tok.vocab_size, tgt_tok.vocab_size, d_model=c.d_model, nhead=c.heads,
            num_encoder_layers=c.layers, num_decoder_layers=c.layers, dim_feedforward=c.d_ff,
            dropout=c.dropout, max_len=max(512, longest + 1, c.decode_max_len + 2),
            norm_first=c.norm_first, share_embeddings=c.share_embeddings and c.joint_vocab,
            tie_output=c.tie_output, pad_id=PAD_ID,
        )
        self.updates_per_epoch = -(-len(self.batches) // self._batches_per_update())
        self.optimizer = build_optimizer(c, self.model.parameters())
        total = c.max_steps or (c.epochs or 1) * self.updates_per_epoch
        self.scheduler = build_scheduler(c, self.optimizer, total)
        self.early = EarlyStopping(c.patience, mode="min" if c.early_stop_metric == "valid_loss" else "max") \
            if c.patience else None
        self.metrics = MetricsLog(os.path.join(self.run_dir, "metrics.jsonl"))
        self.state = {"step": 0, "epoch": 0, "position": 0, "elapsed": 0.0, "tokens": 0,
                      "best": None, "best_step": None}
        if resuming:
            # a temporary file left by a write that was killed is never a checkpoint
            for leftover in glob.glob(os.path.join(self.run_dir, ".*.ckpt.*.tmp")):
                os.remove(leftover)
            self._restore(last)
            self.log(f"resumed from {last} at update {self.state['step']}")
            self._report_changed_options()
        self._init_run_files(resuming)
        self._report_setup()

    # Hooks that data-parallel training (minitransformer.distributed) overrides.
    def _prepare_data(self, resuming: bool):
        """Pairs and tokenizers (trained and written to the run directory unless resuming)."""
        return prepare(self.config, self.run_dir, reuse_tokenizers=resuming)

    def _init_run_files(self, resuming: bool) -> None:
        """Cut the metrics log back to the checkpoint, or start it afresh with config.json."""
        if resuming:
            self.metrics.truncate_after(self.state["step"])
            return
        if os.path.exists(self.metrics.path):
            os.remove(self.metrics.path)
        _write_json(os.path.join(self.run_dir, "config.json"), self.config.to_dict())

    def _batches_per_update(self) -> int:
        """Micro-batches of the seeded order consumed by one update."""
        return self.config.accum_steps

    def _report_changed_options(self):
        """Say which options of a resumed run differ from those it was started with."""
        path = os.path.join(self.run_dir, "config.json")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        now = self.config.to_dict()
        changed = [f"{k} {before[k]!r} -> {now[k]!r}" for k in sorted(now)
                   if k in before and before[k] != now[k] and k != "resume"]
        if changed:
            self.log("resume: options changed since the run started (the model, optimizer and "
                     "schedule state continue from the checkpoint): " + "; ".join(changed))

    def _report_setup(self):
        c = self.config
        tokens = sum(b.num_padded_tokens for b in self.batches.batches)
        self.log(f"data: {len(self.data.train)} training pairs, {len(self.data.valid)} validation pairs; "
                 f"{self.data.report}")
        self.log(f"model: {self.model.num_parameters():,} parameters; vocab {self.data.src_tok.vocab_size}"
                 f"/{self.data.tgt_tok.vocab_size}; backend {c.backend}")
        target_tokens = sum(b.num_tgt_tokens for b in self.batches.batches) / self.updates_per_epoch
        self.log(f"batches: {len(self.batches)} per epoch ({tokens:,} source + target tokens with padding), "
                 f"accumulation {c.accum_steps} -> {self.updates_per_epoch} updates per epoch; "
                 f"an update averages {target_tokens:,.0f} target tokens")
        longest = max((len(t) + 1 for t in self.valid_tgt), default=None)   # + eos
        for line in setup_warnings(c, target_tokens_per_update=target_tokens,
                                   vocab_sizes=(self.data.src_tok.vocab_size, self.data.tgt_tok.vocab_size),
                                   longest_valid_target=longest):
            self.log(f"warning: {line}")

    # ------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> dict:
        return {
            "format": "minitransformer-training-state",
            "config": self.config.to_dict(),
            "model_config": self.model.get_config(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "early_stopping": self.early.state_dict() if self.early is not None else None,
            "rng": _backend.get_rng_state(),
            "trainer": dict(self.state),
        }

    def _save(self, name: str) -> None:
        save(self._checkpoint(), os.path.join(self.run_dir, name))

    def _restore(self, path: str) -> None:
        ck = load(path, backend="numpy")
        optimizer_state = ck["optimizer"]
        if is_legacy_state(ck["model"]):   # a run of an earlier version: renumber its optimizer state
            optimizer_state = upgrade_optimizer_state(self.model, ck["model"], optimizer_state)
        self.model.load_state_dict(ck["model"])   # upgrades old parameter names itself
        self.optimizer.load_state_dict(optimizer_state)
        if self.scheduler is not None and ck.get("scheduler") is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        if self.early is not None and ck.get("early_stopping") is not None:
            self.early.load_state_dict(ck["early_stopping"])
        _backend.set_rng_state(ck["rng"])
        self.state.update(ck["trainer"])

    # ------------------------------------------------------------------ loop
    def _done(self, start_time) -> str | None:
        c, s = self.config, self.state
        if c.max_steps is not None and s["step"] >= c.max_steps:
            return f"reached --max-steps {c.max_steps}"
        if c.epochs is not None and s["epoch"] >= c.epochs:
            return f"reached --epochs {c.epochs}"
        if self._out_of_time(start_time):
            return f"reached --time-budget {c.time_budget:g} s"
        return None

    def _out_of_time(self, start_time) -> bool:
        c = self.config
        return c.time_budget is not None and self.state["elapsed"] + time.perf_counter() - start_time >= c.time_budget

    def _next_group(self):
        """The next K batches of the seeded order, moving to a new epoch at its end."""
        s, k = self.state, self._batches_per_update()
        order = self.batches.order(s["epoch"])
        group = [self.batches.batches[i] for i in order[s["position"]:s["position"] + k]]
        s["position"] += len(group)
        if s["position"] >= len(order):
            s["epoch"] += 1
            s["position"] = 0
        return group

    def run(self) -> dict:
        c = self.config
        self._setup()
        save_every = c.save_every or c.eval_every
        start = time.perf_counter()
        progress = _progress(c, self.state["step"])
        reason = None
        window_tokens, window_start = 0, time.perf_counter()
        with detect_anomaly() if c.detect_anomaly else _null():
            while reason is None:
                reason = self._done(start)
                if reason is not None:
                    break
                group = self._next_group()
                try:
                    result = self._train_step(group)
                except NonFiniteLossError as exc:
                    progress.close()
                    raise NonFiniteLossError(f"update {self.state['step'] + 1}: {exc}") from None
                self.state["step"] += 1
                self.state["tokens"] += result["tokens"]
                window_tokens += result["tokens"]
                now = time.perf_counter()
                tok_s = window_tokens / max(now - window_start, 1e-9)
                record = {"step": self.state["step"], "epoch": self.state["epoch"], "loss": result["loss"],
                          "lr": result["lr"], "tokens": result["tokens"], "grad_norm": result["grad_norm"],
                          "tokens_per_s": tok_s, "skipped": not result["finite"],
                          "elapsed": self.state["elapsed"] + now - start}
                self.metrics.write(record)
                self.state["skips_in_a_row"] = 0 if result["finite"] else self.state.get("skips_in_a_row", 0) + 1
                if self.state["skips_in_a_row"] >= MAX_SKIPS_IN_A_ROW:
                    progress.close()
                    raise NonFiniteLossError(
                        f"update {self.state['step']}: {MAX_SKIPS_IN_A_ROW} updates in a row had a NaN or "
                        "infinite loss or gradient and were skipped: training has diverged. Lower --lr, "
                        "or rerun with --detect-anomaly to find the op; the last checkpoint is intact"
                    )
                progress.update(1)
                progress.set_postfix(loss=f"{result['loss']:.3f}", lr=f"{result['lr']:.2e}", tok_s=f"{tok_s:,.0f}")
                if self.state["step"] % 20 == 0:
                    window_tokens, window_start = 0, now
                stop = False
                if self.state["step"] % c.eval_every == 0:
                    stop = self._evaluate()
                if self.state["step"] % save_every == 0 or stop:
                    self.state["elapsed"] += time.perf_counter() - start
                    start = time.perf_counter()
                    self._save(LAST)
                if stop:
                    reason = f"early stopping: no improvement of {c.early_stop_metric} in {c.patience} evaluations"
        progress.close()
        self.state["elapsed"] += time.perf_counter() - start
        if self.state["step"] % c.eval_every != 0:
            self._evaluate()
        self._save(LAST)
        self.log(f"stopped after {self.state['step']} updates ({reason})")
        warning = stop_warning(c, reason=reason, steps_done=self.state["step"])
        if warning:
            self.log(f"warning: {warning}")
        return self._final_report()

    def _train_step(self, group, **extra) -> dict:
        """One update from ``group``; ``extra`` goes to ``steps.train_step`` (num_tokens, gradient_hook)."""
        c = self.config
        return train_step(self.model, self.optimizer, self.scheduler, group, pad_id=PAD_ID,
                          label_smoothing=c.label_smoothing, clip_norm=c.clip_norm,
                          backend=c.backend, on_nonfinite=c.on_nonfinite, **extra)

    # ------------------------------------------------------------ evaluation
    def _evaluate(self) -> bool:
        """Validation metrics into the log; True when early stopping says stop."""
        c = self.config
        loss = evaluate_loss(self.model, self.valid_batches.batches, pad_id=PAD_ID, backend=c.backend)
        sample = self.data.valid[: c.eval_sentences]
        hyps = translate_pairs(self.model, self.data.src_tok, self.data.tgt_tok, [s for s, _ in sample],
                               beam=c.beam, max_len=c.decode_max_len, backend=c.backend)
        scores = translation_scores(hyps, [t for _, t in sample])
        record = {"step": self.state["step"], "valid_loss": loss, "valid_ppl": perplexity(loss), **scores}
        self.metrics.write(record)
        self.log(f"update {self.state['step']}: valid loss {loss:.3f}, ppl {perplexity(loss):.2f}, "
                 f"BLEU {scores['bleu']:.1f}, exact match {scores['exact_match']:.1%}")
        metric = loss if c.early_stop_metric == "valid_loss" else scores["bleu"]
        improved = self.state["best"] is None or (
            metric < self.state["best"] if c.early_stop_metric == "valid_loss" else metric > self.state["best"])
        if improved:
            self.state["best"], self.state["best_step"] = metric, self.state["step"]
            self._save(BEST)
        if self.early is not None:
            return self.early.step(metric, step=self.state["step"])
        return False

    def _final_report(self) -> dict:
        c = self.config
        sample = self.data.valid[: max(c.eval_sentences, 1)]
        hyps = translate_pairs(self.model, self.data.src_tok, self.data.tgt_tok, [s for s, _ in sample],
                               beam=c.beam, max_len=c.decode_max_len, backend=c.backend)
        scores = translation_scores(hyps, [t for _, t in sample])
        self.log(f"final validation: BLEU {scores['bleu']:.1f}, chrF {scores['chrf']:.1f}, "
                 f"exact match {scores['exact_match']:.1%} on {len(sample)} sentences")
        for (src, ref), hyp in list(zip(sample, hyps))[:3]:
            self.log(f"  source:    {src}\n  reference: {ref}\n  model:     {hyp}")
        report = {"step": self.state["step"], "valid": scores, "run_dir": self.run_dir}
        if self.data.test:
            test = self.data.test[: max(c.eval_sentences, 1)]
            test_hyps = translate_pairs(self.model, self.data.src_tok, self.data.tgt_tok, [s for s, _ in test],
                                        beam=c.beam, max_len=c.decode_max_len, backend=c.backend)
            report["test"] = translation_scores(test_hyps, [t for _, t in test])
            self.log(f"test: BLEU {report['test']['bleu']:.1f}, exact match {report['test']['exact_match']:.1%}")
        try:
            from ..viz.training import plot_run  # noqa: PLC0415  (matplotlib is slow to import)

            written = plot_run(self.run_dir, model=self.model, tokenizers=(self.data.src_tok, self.data.tgt_tok),
                               sample=self.data.valid[0][0] if self.data.valid else None)
            self.log("plots: " + ", ".join(os.path.basename(p) for p in written))
        except Exception as exc:  # noqa: BLE001  a failed plot must not lose a finished run
            self.log(f"plots skipped: {type(exc).__name__}: {exc}")
        _write_json(os.path.join(self.run_dir, "final_metrics.json"), report)
        return report


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _progress(config, initial):
    from tqdm import tqdm  # noqa: PLC0415

    total = config.max_steps
    return tqdm(total=total, initial=initial, disable=not config.progress, unit="update",
                dynamic_ncols=True, leave=False)
