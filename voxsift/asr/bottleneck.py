"""Bottleneck (Houlsby) adapters after the attention and feed-forward blocks of an encoder.

Each adapter is down-projection → GELU → up-projection added back to the block's output; the up
projection starts at zero so the adapted model starts as the base model (like LoRA's B = 0). They
hook onto the blocks with forward hooks instead of replacing modules, so the base keeps its
parameter names and its checkpoint loads unchanged. Being nonlinear, they cannot be merged into the
base weights: export keeps them as modules.
"""

from __future__ import annotations

import re
from typing import Any

from torch import Tensor, nn

from voxsift.asr.adapters import Adapter, AdapterKind
from voxsift.asr.models import SpeechModel

ROOT_NAME = "bottleneck_adapters"
TARGETS = {
    "whisper": r"(^|\.)encoder\.layers\.\d+\.(self_attn|fc2)$",
    "ctc": r"(^|\.)encoder\.layers\.\d+\.(attention|feed_forward|self_attn|feed_forward2)$",
}
"""Blocks adapted per family: the encoder's attention output and (last) feed-forward output."""


class Bottleneck(nn.Module):
    """h + up(gelu(down(h))), with ``up`` zero-initialized."""

    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, dim)
        self.up = nn.Linear(dim, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: Tensor) -> Tensor:
        return hidden + self.up(nn.functional.gelu(self.down(hidden)))


def _hook(adapter: Bottleneck):
    def apply(module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (adapter(output[0]), *output[1:])
        return adapter(output)

    return apply


def attach(root: nn.Module, family: str, width: int, dim: int) -> nn.ModuleDict:
    """Add one adapter after each target block; the adapters live under ``root.ROOT_NAME``."""
    pattern = re.compile(TARGETS[family])
    names = [name for name, _ in root.named_modules() if pattern.search(name)]
    if not names:
        raise ValueError(f"bottleneck: no encoder block matches {TARGETS[family]!r}")
    adapters = nn.ModuleDict()
    for name in names:
        adapter = Bottleneck(width, dim)
        adapters[name.replace(".", "__")] = adapter
        root.get_submodule(name).register_forward_hook(_hook(adapter))
    root.add_module(ROOT_NAME, adapters)
    return adapters


def model_width(config: Any) -> int:
    """The encoder's model width: Whisper's d_model, a CTC encoder's hidden size."""
    encoder = getattr(config, "encoder_config", config)  # Parakeet nests its encoder's config
    return getattr(encoder, "d_model", None) or encoder.hidden_size


class BottleneckAdapters(AdapterKind):
    """The adapter kind ``bottleneck``: nonlinear, so it cannot be merged into the base."""

    def add(self, network: nn.Module, model: SpeechModel, config: dict[str, Any]) -> dict:
        width = model_width(network.config)
        adapters = attach(network, model.family.name, width, config["bottleneck_dim"])
        adapters.requires_grad_(True)
        return {}

    def merge(self, adapter: Adapter) -> nn.Module:
        raise ValueError("bottleneck adapters are nonlinear and cannot be merged into the base")


BOTTLENECK = BottleneckAdapters()
