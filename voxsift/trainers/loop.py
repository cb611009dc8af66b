"""The training recipe: init validates → setup → train → save → cleanup (torchtune's shape).

Each sample's loss is multiplied by its shard ``weight`` (Ask2Mask-style confidence weighting), so
the loss is computed per sample here: Hugging Face models return a batch mean. One optimizer step
sums weight × loss over all samples of its ``grad_accum`` batches and divides by their count, so a
weight of 0 contributes nothing and batch sizes that vary with bucketing do not skew the step.
With ``token_weights`` (Whisper only; see trainers/shards.py) a sample's loss is the weighted mean
of its token cross-entropies, the weights from the teacher's word confidences with mean 1, so they
move loss between the words of a sample and never change what the sample counts in the step.
Random streams are re-seeded from (seed, step) at every step and the data position is a batch
count, so a resumed run reaches the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from voxsift.asr.adapters import adapter_config, attach, save_adapter
from voxsift.asr.kinds import ADAPTERS
from voxsift.asr.models import SpeechModel, build_model
from voxsift.evaltext import corpus_error_rates
from voxsift.trainers import checkpoint
from voxsift.trainers.locate import resolve_shards
from voxsift.trainers.outputs import TrainOutput
from voxsift.trainers.progress import Progress
from voxsift.trainers.settings import TrainSettings
from voxsift.trainers.shards import Batch, ShardBatches, WordWeighting, make_loader, shard_texts

METRICS = "metrics.json"
"""Written last: a train output folder that holds it holds a finished training."""


def weighted_loss(model: SpeechModel, network: nn.Module, batch: Batch, count: int) -> Tensor:
    """Σ weight_i · loss_i over the batch, divided by the samples in the whole optimizer step."""
    losses = model.family.per_sample_loss(network, batch.inputs)
    return (losses * batch.weights.to(losses.dtype)).sum() / count


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to the peak, then cosine decay towards zero at ``total`` steps."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def reseed(seed: int, step: int) -> None:
    """Seed torch, numpy and random from (seed, step): dropout and masks replay on resume."""
    value = (seed * 1_000_003 + step) % 2**31
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)


class AdapterTrainingRecipe:
    """Trains an adapter (or, with ``adapter: full``, every parameter) on voxsift shards."""

    def __init__(
        self,
        settings: TrainSettings,
        shards: str,
        out: str | Path,
        resume: bool = False,
        stop_after: int | None = None,
    ) -> None:
        self.settings, self.resume, self.stop_after = settings, resume, stop_after
        self.shards = resolve_shards(shards)
        self.output = TrainOutput(str(out))
        has_checkpoint = self.output.exists(checkpoint.FILE)
        if resume and not has_checkpoint:
            raise FileNotFoundError(f"--resume: no {checkpoint.FILE} in {out}")
        if not resume and has_checkpoint:
            raise FileExistsError(
                f"{out} already holds a checkpoint: pass --resume to continue it, or "
                "choose another --out"
            )
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = settings.bf16 and self.device.type == "cuda"
        self.step = 0
        self.position = {"epoch": 0, "batches": 0}
        self.history: dict[str, Any] = {
            "loss": [],
            "eval": [],
            "dropped": {},
            "audio": 0.0,
            "token_weighting": {},
        }

    # ---- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._setup_model()
        self._setup_optimizer()
        self._setup_lr_scheduler()
        self._setup_data()
        if self.resume:
            self._load_checkpoint()

    def _setup_model(self) -> None:
        s = self.settings
        self.model = build_model(
            s.model, s.language, s.task, texts=lambda: shard_texts(self.shards)
        )
        window = self.model.family.window_seconds
        if window > s.data.batch_seconds:
            raise ValueError(
                f"train.data.batch_seconds ({s.data.batch_seconds}) is below the "
                f"model's {window:g} s input window: no batch would fit"
            )
        if window and s.data.max_seconds > window:
            raise ValueError(
                f"train.data.max_seconds ({s.data.max_seconds}) exceeds the model's "
                f"{window:g} s window: longer clips would be cut, set it ≤ {window:g}"
            )
        problem = ADAPTERS.get(s.adapter).problem(self.model)
        if problem:
            raise ValueError(f"train.adapter {s.adapter}: {problem}")
        torch.manual_seed(s.seed)
        self.adapter = attach(self.model, adapter_config(s, self.model))
        self.network = self.adapter.network.to(self.device)
        print(self.adapter.describe(), flush=True)

    def _setup_optimizer(self) -> None:
        self.optimizer = torch.optim.AdamW(
            self.adapter.trainable(), lr=self.settings.lr, weight_decay=self.settings.weight_decay
        )

    def _setup_lr_scheduler(self) -> None:
        s = self.settings
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, s.warmup, s.steps)
        )

    def _setup_data(self) -> None:
        data = self.settings.data
        if data.resampled and not data.samples_per_epoch:
            if not self.shards.train_samples:
                raise ValueError(
                    "train.data.samples_per_epoch is needed with resampled shards "
                    "given by pattern (no index.json to count them)"
                )
            data = data.model_copy(update={"samples_per_epoch": self.shards.train_samples})
        self.data_settings = data
        self.weighting = WordWeighting.from_settings(self.settings, self.model.family)
        if self.settings.token_weights and self.weighting is None:
            family = self.model.family.name
            print(f"token weights: not applied, a {family} loss cannot weight tokens")
        shards = self.shards
        size = (
            f", {shards.train_samples} samples, {shards.train_seconds / 3600:.2f} h"
            if shards.train_seconds is not None
            else ""
        )
        print(f"train shards: {len(shards.train)}{size}; valid shards: {len(shards.valid)}")

    @property
    def out(self) -> Path:
        """The local folder written (for a remote output, its working copy; see outputs.py)."""
        return self.output.local

    def _load_checkpoint(self) -> None:
        self.output.fetch(checkpoint.FILE)
        state = checkpoint.load(self.out, self.device)
        changed = checkpoint.changed_settings(state["settings"], self.settings)
        if changed:
            print(
                f"resume: settings differ from the checkpoint's in {changed}; the current "
                "config wins, so the run may not match an uninterrupted one",
                flush=True,
            )
        self.adapter.load_state(state["adapter"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.position, self.history = state["step"], state["position"], state["history"]
        self.history.setdefault("token_weighting", {})
        print(
            f"resumed at step {self.step} (epoch {self.position['epoch']}, "
            f"batch {self.position['batches']})",
            flush=True,
        )

    # ---- data ----------------------------------------------------------------------------

    def _train_batches(self) -> Iterator[Batch]:
        """Batches over epochs from the saved position; empty epochs are an error, not a hang."""
        workers = self.data_settings.num_workers
        while True:
            skip = self.position["batches"]
            dataset = ShardBatches(
                self.shards.train,
                self.data_settings,
                self.model.family,
                self.settings.seed,
                epoch=self.position["epoch"],
                train=True,
                skip=skip if workers <= 1 else 0,
                weighting=self.weighting,
            )
            batches = iter(make_loader(dataset, workers, self.device.type == "cuda"))
            if workers > 1:  # worker interleaving is only reproduced by replaying it
                for _ in zip(range(skip), batches, strict=False):
                    pass
            usable = False
            for batch in batches:
                self.position["batches"] += 1
                usable |= batch.size > 0
                yield batch
            if not usable and not skip:
                raise RuntimeError(
                    f"an epoch of {len(self.shards.train)} train shards gave no "
                    f"usable sample; dropped so far: {self.history['dropped']}"
                )
            self.position = {"epoch": self.position["epoch"] + 1, "batches": 0}

    def _next_batches(self, stream: Iterator[Batch]) -> list[Batch]:
        """The ``grad_accum`` non-empty batches of one optimizer step; drops and token weighting
        outcomes tallied."""
        batches: list[Batch] = []
        while len(batches) < self.settings.grad_accum:
            batch = next(stream)
            self._tally("dropped", batch.dropped)
            self._tally("token_weighting", batch.token_weighting)
            if batch.size:
                batches.append(batch)
        return batches

    def _tally(self, name: str, counts: dict[str, int]) -> None:
        self.history[name] = dict(Counter(self.history[name]) + Counter(counts))

    # ---- train ---------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def optimizer_step(self, batches: list[Batch]) -> float:
        """Forward/backward over the step's batches, clip, update; returns the weighted loss."""
        reseed(self.settings.seed, self.step)
        count = sum(b.size for b in batches)
        total = 0.0
        for batch in batches:
            on_device = batch.to(self.device)
            with self._autocast():
                loss = weighted_loss(self.model, self.network, on_device, count)
            loss.backward()
            total += float(loss.detach())
        if self.settings.clip:
            torch.nn.utils.clip_grad_norm_(self.adapter.trainable(), self.settings.clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.adapter.after_step(lr)
        self.step += 1
        return total

    def train(self) -> dict[str, Any]:
        s = self.settings
        last = s.steps if self.stop_after is None else min(s.steps, self.step + self.stop_after)
        progress = Progress(self.step + 1, s.steps, s.log_every)
        stream = self._train_batches()
        while self.step < last:
            # one optimizer step: gather batches, weighted loss, update
            batches = self._next_batches(stream)
            lr = self.optimizer.param_groups[0]["lr"]
            loss = self.optimizer_step(batches)
            seconds = sum(b.seconds for b in batches)
            self.history["loss"].append([self.step, loss])
            self.history["audio"] += seconds
            progress.update(self.step, loss, seconds, lr, self._note())
            # periodic evaluation and checkpoint
            if s.eval.every and self.step % s.eval.every == 0 and self.step < s.steps:
                self._log_eval(progress, self.evaluate())
            if self.step % s.save_every == 0 or self.step == last:
                self.save_checkpoint()
        stream.close()
        if self.step < s.steps:
            progress.say(f"stopped at step {self.step} of {s.steps}; continue with --resume")
            return self.metrics(final=None, seconds=time.monotonic() - progress.start)
        # end of training: final evaluation, adapter, metrics
        final = self.evaluate()
        self._log_eval(progress, final)
        return self.save(final, time.monotonic() - progress.start)

    def _note(self) -> str:
        return self.adapter.note()

    def _log_eval(self, progress: Progress, result: dict[str, Any] | None) -> None:
        if result is None:
            progress.say("no valid shards or no usable valid sample: evaluation skipped")
            return
        self.history["eval"].append(result)
        progress.say(
            f"eval step {result['step']}: loss {result['loss']:.4f} "
            f"wer {result['wer']:.3f} cer {result['cer']:.3f} ({result['samples']} "
            "samples)"
        )

    # ---- evaluate ------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any] | None:
        """Weighted loss and greedy-decoding WER/CER on the valid shards (evaltext's normalizer)."""
        if not self.shards.valid:
            return None
        self.network.eval()
        dataset = ShardBatches(
            self.shards.valid,
            self.data_settings,
            self.model.family,
            self.settings.seed,
            train=False,
            weighting=self.weighting,
        )
        refs: list[str] = []
        hyps: list[str] = []
        loss = weight = 0.0
        evaluated = (b.to(self.device) for b in make_loader(dataset, 0) if b.size)
        for batch in islice(evaluated, self.settings.eval.max_batches):
            with self._autocast():
                loss += float(weighted_loss(self.model, self.network, batch, 1))
                hyps += self.model.family.transcribe(
                    self.network, batch.inputs, self.settings.eval.max_new_tokens
                )
            weight += float(batch.weights.sum())
            refs += batch.texts
        self.network.train()
        if not refs:
            return None
        rates = corpus_error_rates(refs, hyps)
        examples = [{"ref": r, "hyp": h} for r, h in zip(refs[:3], hyps[:3], strict=True)]
        return {
            "step": self.step,
            "loss": loss / max(weight, 1e-9),
            "samples": len(refs),
            **rates,
            "examples": examples,
        }

    # ---- save ----------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        checkpoint.save(
            self.out,
            {
                "step": self.step,
                "position": dict(self.position),
                "adapter": self.adapter.state(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "history": self.history,
                "settings": self.settings.model_dump_json(),
            },
        )
        self.output.publish(checkpoint.FILE)

    def metrics(self, final: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
        losses = [loss for _, loss in self.history["loss"]]
        head, tail = losses[:5], losses[-5:]
        trainable, total = self.adapter.counts()
        result = {
            "model": self.settings.model,
            "adapter": self.settings.adapter,
            "steps": self.step,
            "finished": self.step >= self.settings.steps,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "loss_start": sum(head) / len(head) if head else None,
            "loss_end": sum(tail) / len(tail) if tail else None,
            "loss_curve": self.history["loss"],
            "eval": self.history["eval"],
            "final_eval": final,
            "dropped": self.history["dropped"],
            "token_weighting": self.history["token_weighting"] if self.weighting else None,
            "audio_seconds": self.history["audio"],
            "session_seconds": seconds,
            "settings": self.settings.model_dump(),
        }
        return {**result, **self.adapter.figures()}

    def save(self, final: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
        """Adapter alone, optional merged export, metrics.json (written last: the done marker)."""
        s = self.settings
        save_adapter(self.adapter, self.model, self.out, {"language": s.language, "task": s.task})
        result = self.metrics(final, seconds)
        if s.merge:
            merged = self.adapter.merged()
            merged.save_pretrained(str(self.out / "merged"))
        self.output.publish()
        checkpoint.write_json(self.out / METRICS, result)
        self.output.publish(METRICS)
        return result

    def cleanup(self) -> None:
        self.output.close()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def train(settings: TrainSettings, shards: str, out: str, resume: bool = False) -> dict[str, Any]:
    """Train an adapter on the shards at ``shards``; ``out`` receives it and metrics.json."""
    recipe = AdapterTrainingRecipe(settings, shards, out, resume=resume)
    try:
        recipe.setup()
        return recipe.train()
    finally:
        recipe.cleanup()
