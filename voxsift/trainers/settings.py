"""The ``train:`` section of the run config: every knob of the adapter trainer, validated once.

The trainer is configured in one place and fails before any work starts; pydantic error locations
name the field (``train.data.batch_seconds``), so a message tells the user what to change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from voxsift.asr.kinds import ADAPTERS
from voxsift.settings import Settings


class DataSettings(Settings):
    """How shards become batches: shuffling, bucketing by duration, workers."""

    batch_seconds: float = Field(
        120.0,
        gt=0,
        description="Upper bound of one batch's padded audio: samples × longest clip (× the "
        "model's fixed window where it pads, as Whisper does to 30 s).",
    )
    num_buckets: int = Field(10, ge=1, description="Duration buckets (geometric bounds).")
    bucket_buffer: int = Field(
        2000, ge=1, description="Samples held across all buckets before the fullest is emitted."
    )
    shuffle_buffer: int = Field(1000, ge=0, description="Sample shuffle buffer; 0 turns it off.")
    shard_shuffle: int = Field(100, ge=0, description="Shard shuffle buffer; 0 keeps index order.")
    resampled: bool = Field(
        False,
        description="Draw shards with replacement (infinite stream, for many workers/nodes); "
        "an epoch is then `samples_per_epoch` samples.",
    )
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Epoch length when resampled; default: train samples in index."
    )
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (0 = in process).")
    min_seconds: float = Field(0.1, ge=0, description="Shorter clips are skipped and counted.")
    max_seconds: float = Field(30.0, gt=0, description="Longer clips are skipped and counted.")

    @model_validator(mode="after")
    def _bounds(self) -> DataSettings:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("min_seconds must be below max_seconds")
        if self.batch_seconds < self.max_seconds:
            raise ValueError(
                f"batch_seconds ({self.batch_seconds}) must be at least max_seconds "
                f"({self.max_seconds}) or the longest clips never fit a batch"
            )
        return self


class EvalSettings(Settings):
    """Evaluation on the ``valid`` shards: weighted loss, WER and CER after normalization."""

    every: int = Field(0, ge=0, description="Evaluate every N steps; 0 = only after training.")
    max_batches: int | None = Field(
        None, ge=1, description="Cap on valid batches per evaluation (None = all)."
    )
    max_new_tokens: int = Field(128, ge=1, description="Greedy decoding length cap (Whisper).")


class TrainSettings(Settings):
    """The adapter trainer's configuration (the ``train:`` section of the run YAML)."""

    model: str = Field(
        "random:whisper",
        description="Base model: a hub name, a local path, or `random:whisper` / `random:ctc` "
        "(tiny random models built offline; options as `random:ctc?hidden=64&layers=2`).",
    )
    language: str = Field("en", description="Whisper language token (ISO code, e.g. `en`).")
    task: Literal["transcribe", "translate"] = Field("transcribe", description="Whisper task.")
    adapter: str = Field(
        "lora",
        description=f"{' | '.join(ADAPTERS.names())} (see asr/kinds.py); full: every base "
        "parameter trains (training from scratch, full fine-tuning) and the whole model is saved "
        "as a checkpoint folder that `model:` takes back as a base by its path.",
    )
    rank: int = Field(8, ge=1, description="Rank of LoRA, rsLoRA and S2-LoRA.")
    alpha: float = Field(16.0, gt=0, description="Scale numerator: α/r (LoRA), α/√r (rsLoRA).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input path.")
    target_modules: list[str] | None = Field(
        None,
        description="Linear layers adapted by LoRA/rsLoRA/S2-LoRA (name suffixes); None = "
        "attention and feed-forward projections of the model family.",
    )
    l1: float = Field(
        0.5,
        ge=0,
        description="S2-LoRA L1 strength β on the rank coefficients, applied as a proximal step "
        "(soft-threshold by lr·β after each update). Adam moves a coefficient by about lr per "
        "step, so β near 1 prunes every coefficient whose gradient sign is not steady; 0 = off.",
    )
    bottleneck_dim: int = Field(64, ge=1, description="Bottleneck adapter width.")
    steps: int = Field(1000, ge=1, description="Optimizer steps.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    warmup_steps: int | None = Field(
        None, ge=0, description="Linear warmup steps, then cosine decay to 0; None = 5% of steps."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    grad_accum: int = Field(1, ge=1, description="Batches accumulated per optimizer step.")
    clip: float | None = Field(1.0, gt=0, description="Gradient norm clip; None turns it off.")
    seed: int = Field(0, ge=0, description="Seeds data order, dropout and adapter init.")
    bf16: bool = Field(True, description="bf16 autocast on CUDA (ignored on CPU).")
    save_every: int = Field(200, ge=1, description="Checkpoint every N steps (and at the end).")
    log_every: int = Field(50, ge=1, description="Progress line every N steps when not a TTY.")
    token_weights: bool = Field(
        True,
        description="Token-level loss weights from the teacher's word confidences (Whisper "
        "students; CTC losses cannot weight tokens and ignore it): only on samples that train on "
        "the teacher's label and carry one confidence per word of their text.",
    )
    token_weight_floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Word weight at confidence 0, before each utterance's token weights are "
        "scaled to mean 1: 0.1 keeps a tenfold range, as select's weight_floor does, without "
        "silencing a word (a low-confidence word is often still right).",
    )
    token_weight_power: float = Field(
        1.0, gt=0, description="Word weight = floor + (1-floor)·confidence**power."
    )
    merge: bool = Field(
        False, description="Also write the base with the adapter merged in (OUT/merged)."
    )
    output: str = Field(
        "adapter", description="Subfolder of the run output that receives the trained adapter."
    )
    data: DataSettings = Field(default_factory=DataSettings, description="Loader settings.")
    eval: EvalSettings = Field(default_factory=EvalSettings, description="Evaluation settings.")

    @field_validator("adapter")
    @classmethod
    def _registered(cls, value: str) -> str:
        return ADAPTERS.check(value)

    @field_validator("output")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        """A folder below the run output: the train stage clears it before it trains afresh."""
        parts = value.rstrip("/").split("/")
        if value.startswith("/") or "://" in value or any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                "must be a relative folder inside the run output, such as 'adapter' or "
                "'adapters/tones' (no absolute path, URI or '..')"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainSettings:
        if self.warmup_steps is not None and self.warmup_steps >= max(self.steps, 2):
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below steps")
        if self.merge and not ADAPTERS.get(self.adapter).mergeable:  # imports the kind's code
            raise ValueError(f"merge: {self.adapter} adapters cannot be merged into the base")
        return self

    @property
    def warmup(self) -> int:
        """Warmup steps in force: the given number, or 5% of the run."""
        return self.steps // 20 if self.warmup_steps is None else self.warmup_steps
