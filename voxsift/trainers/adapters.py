"""Adapters on a base speech model: attach, count, save and load alone, merge for export.

LoRA and rsLoRA go through peft (its files, its loader); S2-LoRA and bottleneck adapters are our
own modules saved in the same layout (``adapter_model.safetensors`` + ``adapter_config.json``) so
that every adapter folder looks alike. A CTC head re-initialized for a new vocabulary trains with
the adapter and is saved with it, or a fresh base would load with a random head. ``full`` is the
degenerate adapter, the whole network: it trains every parameter and saves a new base model
(see export.py), which is how a base is trained from scratch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from voxsift.trainers import bottleneck, s2lora
from voxsift.trainers.export import save_model
from voxsift.trainers.models import SpeechModel, build_model
from voxsift.trainers.settings import TrainSettings

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
    """An adapted network and the kind-specific pieces the loop and export need."""

    kind: str
    network: nn.Module
    config: dict[str, Any]
    s2lora_layers: dict[str, s2lora.S2LoraLinear] = field(default_factory=dict)

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
        """S2-LoRA's proximal L1 step; nothing for the other kinds."""
        s2lora.shrink(self.s2lora_layers, lr * self.config.get("l1", 0.0))

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

    def save(self, folder: Path) -> None:
        """The adapter alone: peft's format for LoRA/rsLoRA, the same file names for ours."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.kind in ("lora", "rslora"):
            # a new CTC head is in modules_to_save; peft's embedding guess fails on audio encoders
            self.network.save_pretrained(str(folder), save_embedding_layers=False)
            return
        tensors = {n: t.contiguous().cpu() for n, t in self.state().items()}
        save_file(tensors, str(folder / WEIGHTS_FILE))
        (folder / CONFIG_FILE).write_text(json.dumps(self.config, indent=1, sort_keys=True))

    def merged(self) -> nn.Module:
        """The base with the adapter folded into its weights, for export without adapter code."""
        if self.kind == "full":
            return self.network
        if self.kind in ("lora", "rslora"):
            return self.network.merge_and_unload()
        if self.kind == "s2lora":
            return s2lora.merge(self.network, self.s2lora_layers)
        raise ValueError("bottleneck adapters are nonlinear and cannot be merged into the base")


def adapter_config(settings: TrainSettings, model: SpeechModel) -> dict[str, Any]:
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
    network = model.network
    kind = config["voxsift_adapter"]
    network.requires_grad_(kind == "full")
    if kind == "full":
        return Adapter(kind, network, config)
    if kind in ("lora", "rslora"):
        return Adapter(kind, _peft(network, config), config)
    layers: dict[str, s2lora.S2LoraLinear] = {}
    if kind == "s2lora":
        layers = s2lora.attach(
            network, config["target_modules"], config["rank"], config["alpha"], config["dropout"]
        )
        network.get_submodule(s2lora.ROOT_NAME).requires_grad_(True)
        for layer in layers.values():
            layer.coef.requires_grad_(True)
    else:
        width = _width(network.config)
        adapters = bottleneck.attach(network, model.family.name, width, config["bottleneck_dim"])
        adapters.requires_grad_(True)
    if config["new_head"]:
        network.get_submodule(config["new_head"]).requires_grad_(True)
    return Adapter(kind, network, config, layers)


def _width(config: Any) -> int:
    """The encoder's model width: Whisper's d_model, a CTC encoder's hidden size."""
    encoder = getattr(config, "encoder_config", config)  # Parakeet nests its encoder's config
    return getattr(encoder, "d_model", None) or encoder.hidden_size


def _peft(network: nn.Module, config: dict[str, Any]) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config["rank"],
        lora_alpha=config["alpha"],
        lora_dropout=config["dropout"],
        target_modules=config["target_modules"],
        use_rslora=config["voxsift_adapter"] == "rslora",
        modules_to_save=[config["new_head"]] if config["new_head"] else None,
    )
    return get_peft_model(network, lora)


def load_adapter(folder: Path, model: SpeechModel) -> Adapter:
    """Rebuild a saved adapter on ``model`` (a fresh base built from the same spec and vocab)."""
    config = json.loads((folder / INFO_FILE).read_text())
    if config["voxsift_adapter"] in ("lora", "rslora"):
        from peft import PeftModel

        network = PeftModel.from_pretrained(model.network, str(folder))
        return Adapter(config["voxsift_adapter"], network, config)
    adapter = attach(model, config)
    adapter.load_state(load_file(str(folder / WEIGHTS_FILE)))
    return adapter


def save_adapter(adapter: Adapter, model: SpeechModel, folder: Path, extra: dict) -> None:
    """Adapter files plus voxsift_adapter.json: its config and how to rebuild the base.

    A ``full`` adapter is the whole model: a checkpoint folder that loads by its path.
    """
    if adapter.kind == "full":
        save_model(model, folder)
    else:
        adapter.save(folder)
    description = {**adapter.config, "base": model.describe(), **extra}
    (folder / INFO_FILE).write_text(json.dumps(description, indent=1))


def load_trained(folder: Path) -> tuple[SpeechModel, Adapter]:
    """A trained adapter folder → its base rebuilt from the saved spec and vocabulary + adapter."""
    info = json.loads((folder / INFO_FILE).read_text())
    if info["voxsift_adapter"] == "full":
        model = build_model(str(folder), info["language"], info["task"])
        return model, attach(model, info)
    base = info["base"]
    model = build_model(base["spec"], info["language"], info["task"], vocab=base["vocab"])
    return model, load_adapter(folder, model)
