"""LoRA and rank-stabilized LoRA through peft: its modules, its files, its loader and its merge.

rsLoRA differs only in the scale, α/√r instead of α/r. A new CTC head goes in peft's
``modules_to_save``, so it trains with the adapter and is saved in the adapter folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from voxsift.asr.adapters import Adapter, AdapterKind
from voxsift.asr.models import SpeechModel


class Lora(AdapterKind):
    """peft's LoRA on the ``target_modules`` linear layers; ``stabilized`` is rsLoRA."""

    mergeable = True

    def __init__(self, stabilized: bool = False):
        self.stabilized = stabilized

    def attach(self, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        from peft import LoraConfig, get_peft_model

        model.network.requires_grad_(False)
        lora = LoraConfig(
            r=config["rank"],
            lora_alpha=config["alpha"],
            lora_dropout=config["dropout"],
            target_modules=config["target_modules"],
            use_rslora=self.stabilized,
            modules_to_save=[config["new_head"]] if config["new_head"] else None,
        )
        return Adapter(config["voxsift_adapter"], get_peft_model(model.network, lora), config)

    def save(self, adapter: Adapter, model: SpeechModel, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # a new CTC head is in modules_to_save; peft's embedding guess fails on audio encoders
        adapter.network.save_pretrained(str(folder), save_embedding_layers=False)

    def load(self, folder: Path, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        from peft import PeftModel

        network = PeftModel.from_pretrained(model.network, str(folder))
        return Adapter(config["voxsift_adapter"], network, config)

    def merge(self, adapter: Adapter) -> nn.Module:
        return adapter.network.merge_and_unload()


LORA = Lora()
RSLORA = Lora(stabilized=True)
