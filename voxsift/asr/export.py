"""A fully trained model written as a checkpoint folder, which ``model: PATH`` loads as a base.

``adapter: full`` (the :class:`Full` kind) trains every parameter, so what it makes is a new base
model, not an adapter: it is saved the way hub checkpoints are (``save_pretrained`` weights and
config, the feature extractor, a tokenizer). A character vocabulary becomes a wav2vec 2.0 CTC
tokenizer, so the folder loads through the same code path as a hub CTC checkpoint, output layer
included, and adapters fine-tuned on it later name it by its path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from voxsift.asr.adapters import Adapter, AdapterKind
from voxsift.asr.families import CharCtcCodec, HubCtcCodec, HubWhisperCodec
from voxsift.asr.models import SpeechModel, build_model
from voxsift.asr.vocab import WORD_DELIMITER


def export_problem(model: SpeechModel) -> str | None:
    """Why ``model`` cannot be saved as a loadable checkpoint folder, or None when it can."""
    if isinstance(model.family.codec, CharCtcCodec | HubCtcCodec | HubWhisperCodec):
        return None
    return (
        f"{model.spec}: a character-level Whisper has no tokenizer a checkpoint folder could "
        "hold; train a CTC model from scratch (random:parakeet or random:ctc) or fully "
        "fine-tune a hub Whisper"
    )


def char_tokenizer(codec: CharCtcCodec, folder: Path) -> Any:
    """A wav2vec 2.0 CTC tokenizer over the character vocabulary (blank = ``<pad>`` at 0)."""
    from transformers import Wav2Vec2CTCTokenizer

    vocab_file = folder / "vocab.json"
    tokens = codec.vocab.tokens
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    return Wav2Vec2CTCTokenizer(
        str(vocab_file),
        unk_token="<unk>",
        pad_token=tokens[codec.blank],
        word_delimiter_token=WORD_DELIMITER,
        bos_token=None,
        eos_token=None,
    )


def save_model(model: SpeechModel, folder: Path) -> None:
    """Weights, config, feature extractor and tokenizer: a folder ``build_model`` takes by path."""
    problem = export_problem(model)
    if problem:
        raise ValueError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    model.network.save_pretrained(str(folder))
    model.family.features.save_pretrained(str(folder))
    codec = model.family.codec
    tokenizer = char_tokenizer(codec, folder) if isinstance(codec, CharCtcCodec) else None
    (tokenizer or codec.tokenizer).save_pretrained(str(folder))


class Full(AdapterKind):
    """The adapter kind ``full``: every parameter trains; saved as a checkpoint folder."""

    mergeable = True

    def attach(self, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        model.network.requires_grad_(True)
        return Adapter(config["voxsift_adapter"], model.network, config)

    def save(self, adapter: Adapter, model: SpeechModel, folder: Path) -> None:
        save_model(model, folder)

    def base(self, folder: Path, info: dict[str, Any]) -> SpeechModel:
        return build_model(str(folder), info["language"], info["task"])

    def load(self, folder: Path, model: SpeechModel, config: dict[str, Any]) -> Adapter:
        return self.attach(model, config)

    def merge(self, adapter: Adapter) -> nn.Module:
        return adapter.network

    def problem(self, model: SpeechModel) -> str | None:
        return export_problem(model)


FULL = Full()
