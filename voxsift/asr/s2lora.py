"""S2-LoRA (sparsely shared LoRA) as we read it: shared low-rank factors, sparse per-layer scales.

The paper's abstract says the two low-rank matrices are shared globally and each adapted weight
matrix keeps only its own rank-coefficient vector, constrained to be sparse. Its exact penalty,
initialization and sharing granularity were not available to us, so this is our reading:

    ΔW_m = (α/r) · P_s · diag(λ_m) · Q_s

with one trained (P_s, Q_s) pair per weight shape (Whisper has d×d, 4d×d and d×4d), P and Q drawn
from N(0, 0.02²) and λ_m ∈ R^r starting at zero, as AdaLoRA's Λ does. The L1 penalty β·Σ‖λ_m‖₁ is
applied as its proximal step after each optimizer step (soft-thresholding by lr·β), which sets
coefficients exactly to zero instead of leaving them jittering around it; the ranks left active per
layer are the nonzero coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from voxsift.asr.adapters import Adapter, AdapterKind
from voxsift.asr.models import SpeechModel

ROOT_NAME = "s2lora_shared"
"""Attribute of the root module that holds the shared factors, one entry per weight shape."""


class SharedFactors(nn.Module):
    """The low-rank pair shared by every adapted matrix of one (out, in) shape."""

    def __init__(self, out_features: int, in_features: int, rank: int) -> None:
        super().__init__()
        self.up = nn.Parameter(torch.randn(out_features, rank) * 0.02)
        self.down = nn.Parameter(torch.randn(rank, in_features) * 0.02)


class S2LoraLinear(nn.Module):
    """A frozen linear layer plus (α/r)·P·diag(λ)·Q with P, Q shared and λ its own."""

    def __init__(self, base: nn.Linear, factors: SharedFactors, scaling: float, dropout: float):
        super().__init__()
        self.base = base
        self._factors = (factors,)  # a tuple, so the shared pair is not re-registered here
        self.coef = nn.Parameter(torch.zeros(factors.down.shape[0]))
        self.scaling = scaling
        self.dropout = nn.Dropout(dropout)

    @property
    def factors(self) -> SharedFactors:
        return self._factors[0]

    def forward(self, x: Tensor) -> Tensor:
        low = F.linear(self.dropout(x), self.factors.down) * self.coef
        return self.base(x) + F.linear(low, self.factors.up) * self.scaling

    def delta_weight(self) -> Tensor:
        return (self.factors.up * self.coef) @ self.factors.down * self.scaling


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def attach(
    root: nn.Module, targets: Sequence[str], rank: int, alpha: float, dropout: float
) -> dict[str, S2LoraLinear]:
    """Wrap every target linear layer in place; returns the wrappers by module name."""
    names = [
        n for n, m in root.named_modules() if isinstance(m, nn.Linear) and _matches(n, targets)
    ]
    if not names:
        raise ValueError(f"s2lora: no linear layer matches target_modules {list(targets)}")
    shared = nn.ModuleDict()
    wrappers = {}
    for name in names:
        linear = root.get_submodule(name)
        shape = f"{linear.out_features}x{linear.in_features}"
        if shape not in shared:
            shared[shape] = SharedFactors(linear.out_features, linear.in_features, rank)
        wrapper = S2LoraLinear(linear, shared[shape], alpha / rank, dropout)
        _replace(root, name, wrapper)
        wrappers[name] = wrapper
    root.add_module(ROOT_NAME, shared)
    return wrappers


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


@torch.no_grad()
def shrink(wrappers: dict[str, S2LoraLinear], threshold: float) -> None:
    """Proximal step of β·‖λ‖₁: soft-threshold every coefficient by ``threshold`` = lr·β."""
    if threshold <= 0:
        return
    for wrapper in wrappers.values():
        coef = wrapper.coef
        coef.copy_(coef.sign() * (coef.abs() - threshold).clamp(min=0))


def active_ranks(wrappers: dict[str, S2LoraLinear]) -> dict[str, int]:
    """Nonzero rank coefficients left per adapted matrix."""
    return {name: int((w.coef != 0).sum()) for name, w in wrappers.items()}


@torch.no_grad()
def merge(root: nn.Module, wrappers: dict[str, S2LoraLinear]) -> nn.Module:
    """Fold each ΔW into its base weight and remove the wrappers and shared factors."""
    for name, wrapper in wrappers.items():
        wrapper.base.weight += wrapper.delta_weight().to(wrapper.base.weight.dtype)
        _replace(root, name, wrapper.base)
    delattr(root, ROOT_NAME)
    return root


def rank_summary(wrappers: dict[str, S2LoraLinear]) -> str:
    """One line: active ranks in total and the mean per matrix, for the progress log."""
    ranks = active_ranks(wrappers)
    total = sum(ranks.values())
    mean = total / max(len(ranks), 1)
    return f"s2lora active ranks {total} (mean {mean:.2f} of {_rank(wrappers)} per matrix)"


def _rank(wrappers: dict[str, S2LoraLinear]) -> int:
    return next(iter(wrappers.values())).coef.numel() if wrappers else 0


class S2Lora(AdapterKind):
    """The adapter kind ``s2lora``: these modules on the ``target_modules`` linear layers."""

    mergeable = True

    def add(self, network: nn.Module, model: SpeechModel, config: dict[str, Any]) -> dict:
        layers = attach(
            network, config["target_modules"], config["rank"], config["alpha"], config["dropout"]
        )
        network.get_submodule(ROOT_NAME).requires_grad_(True)
        for layer in layers.values():
            layer.coef.requires_grad_(True)
        return {"layers": layers}

    def merge(self, adapter: Adapter) -> nn.Module:
        return merge(adapter.network, adapter.parts["layers"])

    def after_step(self, adapter: Adapter, lr: float) -> None:
        shrink(adapter.parts["layers"], lr * adapter.config.get("l1", 0.0))

    def note(self, adapter: Adapter) -> str:
        return rank_summary(adapter.parts["layers"])

    def figures(self, adapter: Adapter) -> dict[str, Any]:
        return {"s2lora_active_ranks": active_ranks(adapter.parts["layers"])}


S2LORA = S2Lora()
