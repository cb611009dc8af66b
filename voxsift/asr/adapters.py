"""Adapters on a base speech model: attach, count, save and load alone, merge for export.

Each adapter kind is an :class:`AdapterKind` registered by name in
:data:`~voxsift.asr.kinds.ADAPTERS`: LoRA and rsLoRA go through peft (its files, its loader,
lora.py); S2-LoRA (s2lora.py) and bottleneck adapters (bottleneck.py) are our own modules saved
in the same layout (``adapter_model.safetensors`` + ``adapter_config.json``) so that every adapter
folder looks alike. A CTC head re-initialized for a new vocabulary trains with the adapter and is
saved with it, or a fresh base would load with a random head. ``full`` (export.py) is the
degenerate adapter, the whole network: it trains every parameter and saves a new base model,
which is how a base is trained from scratch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from voxsift.asr.kinds import ADAPTERS
from voxsift.asr.models import SpeechModel, build_model

DEFAULT_TARGETS = {
    "whisper": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "ctc": [
        *("q_proj", "k_proj", "v_proj", "out_proj", "intermediate_dense", "output_dense"),
        *("o_proj", "linear1", "linear2"),  # Parakeet's attention output and feed-forwards
    ],
}
CONFIG_FILE = "adapter_config.json"
INFO_FILE = "voxsift_adapter.json"
"""Marks a voxsift train output folder (an adapter, or a fully trained model) and describes it."""
WEIGHTS_FILE = "adapter_model.safetensors"


@dataclass
class Adapter:
    """An adapted network, and the pieces of it that its kind keeps (S2-LoRA's layers)."""

    kind: str
    network: nn.Module
    config: dict[str, Any]
    parts: dict[str, Any] = field(default_factory=dict)

    @property
    def behaviour(self) -> AdapterKind:
        """The registered kind this adapter is."""
        return ADAPTERS.get(self.kind)

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.network.parameters() if p.requires_grad]

    def counts(self) -> tuple[int, int]:
        """(trainable, total) parameters, shared ones counted once."""
        params = list(self.network.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    def describe(self) -> str:
        trainable, total = self.counts()
        return (
            f"adapter {self.kind}: {trainable:,} trainable of {total:,} parameters "
            f"({100 * trainable / total:.3f}%)"
        )

    def after_step(self, lr: float) -> None:
        """The kind's step after each optimizer step (S2-LoRA's proximal L1 step)."""
        self.behaviour.after_step(self, lr)

    def note(self) -> str:
        """The kind's addition to the progress line ('' for most)."""
        return self.behaviour.note(self)

    def figures(self) -> dict[str, Any]:
        """The kind's own entries of metrics.json (S2-LoRA's active ranks)."""
        return self.behaviour.figures(self)

    def state(self) -> dict[str, torch.Tensor]:
        """Trainable tensors by name: what a checkpoint and an adapter folder hold."""
        return {
            n: p.detach().clone() for n, p in self.network.named_parameters() if p.requires_grad
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        own = dict(self.network.named_parameters())
        missing = sorted(set(self.state()) - set(state))
        if missing:
            raise ValueError(f"adapter state lacks {missing[:3]}… ({len(missing)} tensors)")
        with torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value)

    def merged(self) -> nn.Module:
        """The base with the adapter folded into its weights, for export without adapter code."""
        return self.behaviour.merge(self)


class AdapterKind:
    """One kind of adapter. A kind overrides ``add`` (or ``attach`` whole), and ``merge`` when
    its modules fold into the base; saving and loading default to voxsift's own layout."""

    mergeable = False
    """``merge`` folds the adapter into the base weights (``train.merge`` is allowed)."""

    def attach(self, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        """Freeze the base, add this kind's modules; a new CTC head trains with them."""
        network = model.network
        network.requires_grad_(False)
        parts = self.add(network, model, config)
        if config["new_head"]:
            network.get_submodule(config["new_head"]).requires_grad_(True)
        return Adapter(config["voxsift_adapter"], network, config, parts)

    def add(self, network: nn.Module, model: SpeechModel, config: dict[str, Any]) -> dict:
        """Add trainable modules to the frozen ``network``; returns the parts the kind keeps."""
        raise NotImplementedError(type(self))

    def save(self, adapter: Adapter, model: SpeechModel, folder: Path) -> None:
        """The adapter alone: its trainable tensors and its config."""
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {n: t.contiguous().cpu() for n, t in adapter.state().items()}
        save_file(tensors, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(adapter.config, indent=1, sort_keys=True))

    def base(self, folder: Path, info: dict[str, Any]) -> SpeechModel:
        """The base a saved adapter sits on, rebuilt from the saved spec and vocabulary."""
        spec = info["base"]
        return build_model(spec["spec"], info["language"], info["task"], vocab=spec["vocab"])

    def load(self, folder: Path, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        """The adapter saved in ``folder``, rebuilt on ``model`` (see :meth:`base`)."""
        adapter = self.attach(model, config)
        adapter.load_state(load_file(str(folder / WEIGHTS_FILE)))
        return adapter

    def merge(self, adapter: Adapter) -> nn.Module:
        raise ValueError(f"{adapter.kind} adapters cannot be merged into the base")

    def problem(self, model: SpeechModel) -> str | None:
        """Why this kind cannot train on ``model``, or None."""
        return None

    def after_step(self, adapter: Adapter, lr: float) -> None:
        """Called after each optimizer step with its learning rate."""

    def note(self, adapter: Adapter) -> str:
        return ""

    def figures(self, adapter: Adapter) -> dict[str, Any]:
        return {}


class AdapterSettings(Protocol):
    """What an adapter is built from: the adapter fields of the ``train:`` section."""

    adapter: str
    rank: int
    alpha: float
    dropout: float
    target_modules: list[str] | None
    l1: float
    bottleneck_dim: int


def adapter_config(settings: AdapterSettings, model: SpeechModel) -> dict[str, Any]:
    """Everything needed to rebuild the adapter's modules on a fresh base."""
    return {
        "voxsift_adapter": settings.adapter,
        "rank": settings.rank,
        "alpha": settings.alpha,
        "dropout": settings.dropout,
        "target_modules": settings.target_modules or DEFAULT_TARGETS[model.family.name],
        "l1": settings.l1,
        "bottleneck_dim": settings.bottleneck_dim,
        "new_head": model.new_head,
    }


def attach(model: SpeechModel, config: dict[str, Any]) -> Adapter:
    """Freeze the base and add the adapter described by ``config`` (see adapter_config)."""
    return ADAPTERS.get(config["voxsift_adapter"]).attach(model, config)


def save_adapter(adapter: Adapter, model: SpeechModel, folder: Path, extra: dict) -> None:
    """The kind's files plus voxsift_adapter.json: its config and how to rebuild the base.

    A ``full`` adapter is the whole model: a checkpoint folder that loads by its path.
    """
    adapter.behaviour.save(adapter, model, folder)
    description = {**adapter.config, "base": model.describe(), **extra}
    (folder / INFO_FILE).write_text(json.dumps(description, indent=1))


def load_trained(folder: Path) -> tuple[SpeechModel, Adapter]:
    """A trained adapter folder → its base rebuilt from the saved spec and vocabulary + adapter."""
    info = json.loads((folder / INFO_FILE).read_text())
    kind = ADAPTERS.get(info["voxsift_adapter"])
    model = kind.base(folder, info)
    return model, kind.load(folder, model, info)
