"""Base models by spec: a hub name, a local path, or a small random model built offline.

`random:whisper`, `random:ctc` and `random:parakeet` exist where no pretrained weights can be
fetched; their weights come from a fixed seed, so a fresh base built from the same spec and
vocabulary is bit-identical and a saved adapter loads into it exactly. `random:parakeet` (a
FastConformer CTC encoder on log-mel features) is the one to train from scratch
(``adapter: full``): on CPU it leaves CTC's all-blank plateau within tens of steps, where the
raw-waveform wav2vec 2.0 front end of `random:ctc` still emits nothing at the same cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import torch
from torch import nn

from voxsift.asr.families import (
    CharCtcCodec,
    CharWhisperCodec,
    CtcFamily,
    HubCtcCodec,
    HubWhisperCodec,
    WhisperFamily,
)
from voxsift.asr.vocab import CTC_RESERVED, WHISPER_RESERVED, CharVocab

CTC_MODEL_TYPES = frozenset(
    {"wav2vec2", "hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer", "parakeet_ctc"}
)
CTC_HEADS = {"parakeet_ctc": "ctc_head"}
"""Output layer name per CTC model type, where it is not wav2vec 2.0's ``lm_head``."""
RANDOM_WHISPER = {"d_model": 64, "layers": 2, "heads": 4, "window": 30, "max_tokens": 128}
RANDOM_CTC = {"hidden": 64, "layers": 2, "heads": 4, "conv": 32}
RANDOM_PARAKEET = {"hidden": 144, "layers": 4, "heads": 4, "channels": 32, "kernel": 15}
"""About 2M parameters: 4 conformer blocks over 40 ms frames (4× subsampled 10 ms log-mel)."""
PARAKEET_SUBSAMPLING = 4
"""40 ms frames: Parakeet's default 80 ms is slower than fast speech's characters, which CTC
needs one frame each (plus one between repeats)."""
BASE_SEED = 0
"""Seed of every random base: fixed, so the base does not change with the training seed."""

Family = WhisperFamily | CtcFamily


@dataclass
class SpeechModel:
    """A base network, its family, and what is needed to rebuild it for a saved adapter."""

    network: nn.Module
    family: Family
    spec: str
    vocab: tuple[str, ...] | None = None
    new_head: str | None = None
    """Name of an output layer re-initialized for a new vocabulary: it trains and is saved."""

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "family": self.family.name, "vocab": self.vocab}


def build_model(
    spec: str,
    language: str = "en",
    task: str = "transcribe",
    texts: Callable[[], Iterable[str]] | None = None,
    vocab: Iterable[str] | None = None,
) -> SpeechModel:
    """The base model for ``spec``; ``texts`` is read only if a vocabulary must be built.

    ``vocab`` (a saved vocabulary) wins over ``texts``, so that a saved adapter's base is rebuilt
    without the shards.
    """
    saved = CharVocab(tuple(vocab)) if vocab is not None else None
    if spec.startswith("random:"):
        family, _, query = spec.removeprefix("random:").partition("?")
        options = dict(parse_qsl(query, strict_parsing=bool(query)))
        builders = {"whisper": _random_whisper, "ctc": _random_ctc, "parakeet": _random_parakeet}
        if family not in builders:
            raise ValueError(
                f"model {spec!r}: random models are random:whisper, random:ctc or random:parakeet"
            )
        return builders[family](spec, options, language, task, saved or _vocab_for(family, texts))
    return _pretrained(spec, language, task, texts, saved)


def _vocab_for(family: str, texts: Callable[[], Iterable[str]] | None) -> CharVocab:
    if texts is None:
        raise ValueError("a character vocabulary is needed but no shard text was given")
    reserved = (*WHISPER_RESERVED, "<unk>") if family == "whisper" else CTC_RESERVED
    return CharVocab.from_texts(texts(), reserved)


def _options(spec: str, options: dict[str, str], defaults: dict[str, int]) -> dict[str, int]:
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(f"model {spec!r}: unknown options {sorted(unknown)}; known {defaults}")
    return {**defaults, **{k: int(v) for k, v in options.items()}}


def _seeded(build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BASE_SEED)
        return build()


def _random_whisper(
    spec: str, options: dict[str, str], language: str, task: str, vocab: CharVocab
) -> SpeechModel:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    o = _options(spec, options, RANDOM_WHISPER)
    if f"<|{language}|>" not in vocab.tokens:
        vocab = CharVocab((*vocab.tokens, f"<|{language}|>"))
    codec = CharWhisperCodec(vocab, language, task)
    config = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=80,
        d_model=o["d_model"],
        encoder_layers=o["layers"],
        decoder_layers=o["layers"],
        encoder_attention_heads=o["heads"],
        decoder_attention_heads=o["heads"],
        encoder_ffn_dim=4 * o["d_model"],
        decoder_ffn_dim=4 * o["d_model"],
        max_source_positions=o["window"] * 50,
        max_target_positions=o["max_tokens"],
        pad_token_id=codec.eot,
        bos_token_id=codec.eot,
        eos_token_id=codec.eot,
        decoder_start_token_id=codec.sot,
    )
    network = _seeded(lambda: WhisperForConditionalGeneration(config))
    features = WhisperFeatureExtractor(chunk_length=o["window"])
    family = WhisperFamily(codec, features, config.max_target_positions)
    return SpeechModel(network, family, spec, vocab.tokens)


def _random_ctc(
    spec: str, options: dict[str, str], language: str, task: str, vocab: CharVocab
) -> SpeechModel:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    del language, task  # a character CTC head has neither
    o = _options(spec, options, RANDOM_CTC)
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=o["hidden"],
        num_hidden_layers=o["layers"],
        num_attention_heads=o["heads"],
        intermediate_size=4 * o["hidden"],
        conv_dim=(o["conv"],) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        mask_time_prob=0.0,
        layerdrop=0.0,
        pad_token_id=0,
    )
    network = _seeded(lambda: Wav2Vec2ForCTC(config))
    features = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    family = ctc_family(CharCtcCodec(vocab), features, config)
    return SpeechModel(network, family, spec, vocab.tokens, new_head="lm_head")


def _random_parakeet(
    spec: str, options: dict[str, str], language: str, task: str, vocab: CharVocab
) -> SpeechModel:
    from transformers import ParakeetCTCConfig, ParakeetFeatureExtractor, ParakeetForCTC

    del language, task  # a character CTC head has neither
    o = _options(spec, options, RANDOM_PARAKEET)
    encoder = {
        "hidden_size": o["hidden"],
        "num_hidden_layers": o["layers"],
        "num_attention_heads": o["heads"],
        "intermediate_size": 4 * o["hidden"],
        "subsampling_factor": PARAKEET_SUBSAMPLING,
        "subsampling_conv_channels": o["channels"],
        "conv_kernel_size": o["kernel"],
        "layerdrop": 0.0,
    }
    config = ParakeetCTCConfig(vocab_size=len(vocab), pad_token_id=0, encoder_config=encoder)
    network = _seeded(lambda: ParakeetForCTC(config))
    family = ctc_family(CharCtcCodec(vocab), ParakeetFeatureExtractor(), config)
    return SpeechModel(network, family, spec, vocab.tokens, new_head="ctc_head")


def ctc_family(codec: CharCtcCodec | HubCtcCodec, features: Any, config: Any) -> CtcFamily:
    """The CTC family of a model config: its input and the strided steps from samples to frames."""
    if config.model_type != "parakeet_ctc":
        stages = [(k, s, 0) for k, s in zip(config.conv_kernel, config.conv_stride, strict=True)]
        return CtcFamily(codec, features, stages, "input_values")
    encoder = config.encoder_config
    kernel, stride = encoder.subsampling_conv_kernel_size, encoder.subsampling_conv_stride
    padding = (kernel - 1) // 2 * 2
    layers = int(math.log2(encoder.subsampling_factor))
    hop = features.hop_length  # frames = samples // hop (the extractor's own count)
    stages = [(hop, hop, 0)] + [(kernel, stride, padding)] * layers
    return CtcFamily(codec, features, stages, "input_features")


def _pretrained(
    spec: str,
    language: str,
    task: str,
    texts: Callable[[], Iterable[str]] | None,
    vocab: CharVocab | None,
) -> SpeechModel:
    from transformers import AutoConfig

    try:
        model_type = AutoConfig.from_pretrained(spec).model_type
    except OSError:
        raise ValueError(
            f"model {spec!r} cannot be loaded: it is no local model folder, and the Hugging Face "
            "cache does not hold it (models are never downloaded while voxsift runs); name a "
            "local folder, a cached hub model, or random:whisper / random:ctc"
        ) from None
    if model_type == "whisper":
        return _pretrained_whisper(spec, language, task)
    if model_type in CTC_MODEL_TYPES:
        return _pretrained_ctc(spec, texts, vocab)
    raise ValueError(
        f"model {spec!r} is a {model_type!r}; the trainer takes Whisper or a CTC encoder "
        f"({', '.join(sorted(CTC_MODEL_TYPES))})"
    )


def _pretrained_whisper(spec: str, language: str, task: str) -> SpeechModel:
    from transformers import (
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )

    tokenizer = WhisperTokenizer.from_pretrained(spec)
    network = WhisperForConditionalGeneration.from_pretrained(spec)
    if not getattr(network.generation_config, "is_multilingual", True):
        # An English-only Whisper (tiny.en …) was trained on the prompt start, no-timestamps:
        # language and task tokens it never saw would derail it.
        if (language, task) != ("en", "transcribe"):
            raise ValueError(
                f"model {spec!r} is an English-only Whisper: train.language must be en and "
                f"train.task transcribe (not {language} / {task})"
            )
        tokenizer.language = tokenizer.task = None
        language = task = None  # the codec then keeps the tokenizer's: none
    codec = HubWhisperCodec(tokenizer, language, task)
    features = WhisperFeatureExtractor.from_pretrained(spec)
    family = WhisperFamily(codec, features, network.config.max_target_positions)
    return SpeechModel(network, family, spec)


def _pretrained_ctc(
    spec: str, texts: Callable[[], Iterable[str]] | None, vocab: CharVocab | None
) -> SpeechModel:
    """A CTC checkpoint; without a tokenizer, a character head sized to the shards' text."""
    from transformers import AutoFeatureExtractor, AutoModelForCTC, Wav2Vec2CTCTokenizer

    features = AutoFeatureExtractor.from_pretrained(spec)
    tokenizer = None if vocab is not None else _hub_tokenizer(Wav2Vec2CTCTokenizer, spec)
    if tokenizer is not None:
        network = AutoModelForCTC.from_pretrained(spec)
        codec: CharCtcCodec | HubCtcCodec = HubCtcCodec(tokenizer)
        tokens, head = None, None
    else:
        vocab = vocab or _vocab_for("ctc", texts)
        network = _seeded(
            lambda: AutoModelForCTC.from_pretrained(
                spec, vocab_size=len(vocab), pad_token_id=0, ignore_mismatched_sizes=True
            )
        )
        head = CTC_HEADS.get(network.config.model_type, "lm_head")
        codec, tokens = CharCtcCodec(vocab), vocab.tokens
    family = ctc_family(codec, features, network.config)
    return SpeechModel(network, family, spec, tokens, head)


def _hub_tokenizer(cls: Any, spec: str) -> Any | None:
    """The checkpoint's CTC tokenizer, or None when it ships none (a pre-trained-only encoder)."""
    try:
        return cls.from_pretrained(spec)
    except (OSError, ValueError, TypeError):
        return None
