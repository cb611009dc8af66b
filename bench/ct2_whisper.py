"""Whisper tiny.en from its packaged CTranslate2 ``model.bin`` into a transformers checkpoint.

The closed-loop benchmark fine-tunes a real Whisper with LoRA, and the only real Whisper offline
is the packaged faster-whisper one (``voxsift.models.WHISPER_MODELS["tiny.en"]``). This reads
CTranslate2's binary format (``python/ctranslate2/specs/model_spec.py``, ``_serialize``: version,
spec name, revision, then per variable name, rank, dims, dtype id, byte count and bytes, then
``alias → variable`` pairs), undoes what ``WhisperLoader`` in
``python/ctranslate2/converters/transformers.py`` did to the Hugging Face weights (q/k/v fused
in ``self_attention/linear_0``, cross-attention k/v in ``attention/linear_1``, k without bias
given a zero bias, the output projection an alias of the token embeddings) and builds a
``WhisperForConditionalGeneration`` with strict key checking, its generation config (suppress
and begin-suppress tokens and alignment heads from ``config.json``, start and no-timestamps ids
from ``tokenizer.json``) and a ``WhisperProcessor`` on the packaged ``tokenizer.json``.

Before the folder is kept, its greedy transcripts of real recorded English prompts (Debian's
Asterisk prompts) must be exactly (after stripping whitespace) those of faster-whisper, float32,
beam 1, no timestamps, no previous text: transformers on faster-whisper's own log-mel against
faster-whisper's ``transcribe()``, and transformers against CTranslate2's greedy decoding, both
on ``WhisperFeatureExtractor``'s log-mel (what the trainer feeds the model). Across the two front
ends the texts are only counted: faster-whisper zero-pads a short clip's log-mel to 30 s where
transformers pads the audio with silence, so a near tie may tip. The folder is built in a
staging folder, stamped last (``ct2_whisper.json``: source sha256, the check's counts) and
renamed into place; a stamped folder of the same source is reused.

    .venv/bin/python bench/ct2_whisper.py --out DIR [--check-prompts 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from voxsift import models, prompts  # noqa: E402
from voxsift.audio import load_mono_16k  # noqa: E402

STAMP = "ct2_whisper.json"
FORMAT = 1
"""Version of what this module writes; a stamp of another version is rebuilt."""
DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
"""CTranslate2's DataType enum order (include/ctranslate2/types.h)."""
_ITEM_DTYPES = {4: torch.float32, 2: torch.float16, 1: torch.int8}
"""Binary versions below 4 store an item size instead of a dtype id."""
BINARY_VERSIONS = range(2, 7)
GELU = 3
"""``common_spec.Activation.GELU``: exact (erf) GELU, transformers Whisper's ``gelu``."""
EXPECTED_SCALARS = {
    "decoder/activation": GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
"""Decoder options of ``WhisperSpec`` that transformers Whisper has no other value for."""
MULTILINGUAL_VOCAB = 51865
"""transformers (and CTranslate2) call a Whisper multilingual from this vocabulary size on."""


class ConversionError(RuntimeError):
    """A model.bin this converter cannot map, or a converted model that decodes differently."""


@dataclass(frozen=True)
class Ct2Model:
    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    """Every variable by name, aliases included (an alias maps to its target's tensor)."""
    aliases: dict[str, str]


# ---- CTranslate2's model.bin ---------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytearray) -> None:
        self.data, self.offset = data, 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return value

    def string(self) -> str:
        size = self.take("H")  # length including the trailing NUL
        raw = bytes(self.data[self.offset : self.offset + size - 1])
        self.offset += size
        return raw.decode("utf-8")

    def tensor(self, dtype: torch.dtype, shape: list[int], size: int) -> torch.Tensor:
        count = size // torch.empty((), dtype=dtype).element_size()
        if count != int(np.prod(shape, dtype=np.int64)) or self.offset + size > len(self.data):
            raise ConversionError(f"variable of shape {shape} has a payload of {size} bytes")
        flat = torch.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += size
        return flat.reshape(shape)


def read_ct2(path: Path) -> Ct2Model:
    """The variables of a CTranslate2 ``model.bin`` (binary versions 2–6), aliases resolved."""
    reader = _Reader(bytearray(path.read_bytes()))
    try:
        return _read(reader, path)
    except (struct.error, IndexError, KeyError, UnicodeDecodeError) as error:
        raise ConversionError(f"{path} is no CTranslate2 model.bin: {error!r}") from None


def _read(reader: _Reader, path: Path) -> Ct2Model:
    version = reader.take("I")
    if version not in BINARY_VERSIONS:
        raise ConversionError(f"{path}: binary version {version}, this reader takes 2 to 6")
    spec, revision = reader.string(), reader.take("I")
    variables: dict[str, torch.Tensor] = {}
    for _ in range(reader.take("I")):
        name = reader.string()
        shape = [reader.take("I") for _ in range(reader.take("B"))]
        if version >= 4:
            dtype, size = DTYPES[reader.take("B")], reader.take("I")
        else:
            item = reader.take("B")
            dtype, size = _ITEM_DTYPES[item], reader.take("I") * item
        variables[name] = reader.tensor(dtype, shape, size)
    aliases = {reader.string(): reader.string() for _ in range(reader.take("I"))}
    for alias, target in aliases.items():
        variables[alias] = variables[target]
    if reader.offset != len(reader.data):
        raise ConversionError(f"{path}: {len(reader.data) - reader.offset} bytes after the end")
    return Ct2Model(spec, revision, variables, aliases)


# ---- weights: CTranslate2 names → transformers names ---------------------------------------

_NORMS = {
    "self_attention/layer_norm": "self_attn_layer_norm",
    "attention/layer_norm": "encoder_attn_layer_norm",
    "ffn/layer_norm": "final_layer_norm",
}
_LINEARS = {
    "ffn/linear_0": "fc1",
    "ffn/linear_1": "fc2",
    "self_attention/linear_1": "self_attn.out_proj",
    "attention/linear_0": "encoder_attn.q_proj",
    "attention/linear_2": "encoder_attn.out_proj",
}
_FUSED = {
    "self_attention/linear_0": ("self_attn", ("q_proj", "k_proj", "v_proj")),
    "attention/linear_1": ("encoder_attn", ("k_proj", "v_proj")),
}
"""Linears ``BartLoader.set_attention`` concatenated along the output dimension."""


class _Mapper:
    """Takes CTranslate2 variables into a transformers state dict, noting each one used."""

    def __init__(self, variables: dict[str, torch.Tensor]) -> None:
        self.variables, self.used, self.state = variables, set(), {}

    def take(self, name: str) -> torch.Tensor:
        if name not in self.variables:
            raise ConversionError(f"model.bin has no variable {name!r}")
        self.used.add(name)
        return self.variables[name].float()

    def put(self, ct2: str, hf: str) -> None:
        if f"{ct2}/gamma" in self.variables:
            self.state[f"{hf}.weight"] = self.take(f"{ct2}/gamma")
            self.state[f"{hf}.bias"] = self.take(f"{ct2}/beta")
            return
        self.state[f"{hf}.weight"] = self.take(f"{ct2}/weight")
        if f"{ct2}/bias" in self.variables:
            self.state[f"{hf}.bias"] = self.take(f"{ct2}/bias")

    def split(self, ct2: str, hf: str, parts: Sequence[str]) -> None:
        weights = self.take(f"{ct2}/weight").chunk(len(parts))
        biases = self.take(f"{ct2}/bias").chunk(len(parts))
        for part, weight, bias in zip(parts, weights, biases, strict=True):
            self.state[f"{hf}.{part}.weight"] = weight.contiguous()
            if part != "k_proj":
                self.state[f"{hf}.{part}.bias"] = bias.contiguous()
            elif bool(bias.any()):  # Whisper's k_proj has no bias; the fused one must be zero
                raise ConversionError(f"{ct2}/bias: the key part is not zero")

    def layers(self, stack: str) -> int:
        count = 0
        while f"{stack}/layer_{count}/ffn/linear_0/weight" in self.variables:
            ct2, hf = f"{stack}/layer_{count}", f"model.{stack}.layers.{count}"
            for name, target in _NORMS.items():
                if f"{ct2}/{name}/gamma" in self.variables:
                    self.put(f"{ct2}/{name}", f"{hf}.{target}")
            for name, target in _LINEARS.items():
                if f"{ct2}/{name}/weight" in self.variables:
                    self.put(f"{ct2}/{name}", f"{hf}.{target}")
            for name, (target, parts) in _FUSED.items():
                if f"{ct2}/{name}/weight" in self.variables:
                    self.split(f"{ct2}/{name}", f"{hf}.{target}", parts)
            count += 1
        return count


def whisper_weights(ct2: Ct2Model) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """The transformers state dict (float32, ``proj_out`` left to the tie) and the dimensions
    (``WhisperConfig`` arguments), read from the weight shapes and the head counts."""
    if ct2.spec != "WhisperSpec":
        raise ConversionError(f"model.bin holds a {ct2.spec}, not a WhisperSpec")
    v = ct2.variables
    for name, expected in EXPECTED_SCALARS.items():
        if name in v and int(v[name]) != expected:
            raise ConversionError(
                f"{name} is {int(v[name])}; transformers Whisper needs {expected}"
            )
    if ct2.aliases.get("decoder/projection/weight") != "decoder/embeddings/weight":
        raise ConversionError("decoder/projection/weight is not tied to decoder/embeddings/weight")
    if "decoder/projection/bias" in v:
        raise ConversionError("decoder/projection/bias exists; transformers Whisper has none")
    m = _Mapper(v)
    m.put("encoder/conv1", "model.encoder.conv1")
    m.put("encoder/conv2", "model.encoder.conv2")
    m.state["model.encoder.embed_positions.weight"] = m.take("encoder/position_encodings/encodings")
    m.put("encoder/layer_norm", "model.encoder.layer_norm")
    m.state["model.decoder.embed_tokens.weight"] = m.take("decoder/embeddings/weight")
    m.state["model.decoder.embed_positions.weight"] = m.take("decoder/position_encodings/encodings")
    m.put("decoder/layer_norm", "model.decoder.layer_norm")
    encoder_layers, decoder_layers = m.layers("encoder"), m.layers("decoder")
    m.used |= {"decoder/projection/weight", "decoder/alignment_heads", "decoder/alignment_layer"}
    m.used |= {"encoder/num_heads", "decoder/num_heads", *EXPECTED_SCALARS}
    unused = sorted(set(v) - m.used)
    if unused:
        raise ConversionError(f"model.bin variables with no transformers counterpart: {unused}")
    s, (vocab, d_model) = m.state, m.state["model.decoder.embed_tokens.weight"].shape
    dims = {
        "vocab_size": vocab,
        "d_model": d_model,
        "num_mel_bins": s["model.encoder.conv1.weight"].shape[1],
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": s["model.encoder.layers.0.fc1.weight"].shape[0],
        "decoder_ffn_dim": s["model.decoder.layers.0.fc1.weight"].shape[0],
        "max_source_positions": s["model.encoder.embed_positions.weight"].shape[0],
        "max_target_positions": s["model.decoder.embed_positions.weight"].shape[0],
    }
    return s, dims


# ---- the transformers model, its generation config and processor --------------------------


@dataclass(frozen=True)
class SpecialIds:
    eot: int
    sot: int
    prev: int
    no_timestamps: int

    @classmethod
    def from_tokenizer_json(cls, path: Path) -> SpecialIds:
        added = {t["content"]: t["id"] for t in json.loads(path.read_text())["added_tokens"]}
        names = ("<|endoftext|>", "<|startoftranscript|>", "<|startofprev|>", "<|notimestamps|>")
        missing = [n for n in names if n not in added]
        if missing:
            raise ConversionError(f"{path} lacks the special tokens {missing}")
        return cls(*(added[n] for n in names))


def build_model(source: Path) -> tuple[Any, Any, dict[str, Any]]:
    """(WhisperForConditionalGeneration, WhisperProcessor, facts) from a CTranslate2 folder."""
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    state, dims = whisper_weights(read_ct2(source / "model.bin"))
    if dims["vocab_size"] >= MULTILINGUAL_VOCAB:
        raise ConversionError(
            f"{source} is a multilingual Whisper (vocabulary {dims['vocab_size']}); this converter "
            "writes English-only ones (it sets no language or task tokens)"
        )
    ids = SpecialIds.from_tokenizer_json(source / "tokenizer.json")
    ct2_config = json.loads((source / "config.json").read_text())
    config = WhisperConfig(
        **dims,
        activation_function="gelu",
        scale_embedding=False,
        tie_word_embeddings=True,
        pad_token_id=ids.eot,
        bos_token_id=ids.sot,
        eos_token_id=ids.eot,
        decoder_start_token_id=ids.sot,
    )
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) != {"proj_out.weight"} or unexpected:
        raise ConversionError(f"state dict: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise ConversionError("proj_out.weight did not tie to the token embeddings")
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids.sot,
        bos_token_id=ids.sot,
        eos_token_id=ids.eot,
        pad_token_id=ids.eot,
        max_length=config.max_target_positions,
        is_multilingual=False,
        no_timestamps_token_id=ids.no_timestamps,
        prev_sot_token_id=ids.prev,
        suppress_tokens=list(ct2_config["suppress_ids"]),
        begin_suppress_tokens=list(ct2_config["suppress_ids_begin"]),
        alignment_heads=[list(pair) for pair in ct2_config["alignment_heads"]],
        return_timestamps=False,
    )
    facts = {"dims": dims, "special_ids": asdict(ids)}
    return model.eval(), build_processor(source, config), facts


def build_processor(source: Path, config: Any) -> Any:
    """WhisperFeatureExtractor (the model's mel count) + the packaged tokenizer.json."""
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer

    path = source / "tokenizer.json"
    added = [t["content"] for t in json.loads(path.read_text())["added_tokens"]]
    tokenizer = WhisperTokenizer(
        tokenizer_file=str(path),
        extra_special_tokens=[t for t in added if t != "<|endoftext|>"],
        model_max_length=config.max_target_positions,
    )
    features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return WhisperProcessor(feature_extractor=features, tokenizer=tokenizer)


# ---- the check: greedy transcripts against faster-whisper's --------------------------------


@dataclass(frozen=True)
class CheckResult:
    """Greedy transcripts of ``prompts`` real prompts by transformers and by faster-whisper."""

    prompts: int
    equal_on_faster_whisper_input: int
    """transformers on faster-whisper's log-mel = faster-whisper's ``transcribe()``: required."""
    equal_on_transformers_input: int
    """transformers = CTranslate2, both on WhisperFeatureExtractor's log-mel: required."""
    equal_across_inputs: int
    """transformers on its own log-mel = faster-whisper's ``transcribe()``: counted only (the two
    front ends pad the 30 s window differently, so a near tie may tip either way)."""
    max_logit_difference: float
    """Largest |Δ logit| (unsuppressed tokens) along CTranslate2's greedy path, first prompt."""
    seconds: float
    across_inputs: list[dict[str, str]] = field(default_factory=list)
    """The prompts counted as different in ``equal_across_inputs``, both texts."""


def english_prompts(count: int, part: str | None) -> list[tuple[str, np.ndarray]]:
    """``count`` Asterisk English prompts of three words or more, up to 12 s, as 16 kHz audio."""
    if not prompts.available("en"):
        raise ConversionError(
            "the check needs Debian's asterisk-core-sounds-en(-wav) prompts (.ci/run installs them)"
        )
    chosen = prompts.load_prompts("en", min_words=3, part=part, limit=count, max_seconds=12.0)
    return [(p.name, load_mono_16k(p.path.read_bytes())[0]) for p in chosen]


class _FasterWhisper:
    """faster-whisper's float32 CTranslate2 model: its own ``transcribe()`` and bare greedy."""

    def __init__(self, source: Path) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model = WhisperModel(str(source), device="cpu", compute_type="float32")
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual)
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))

    def transcribe(self, audio: np.ndarray) -> str:
        segments, _ = self.model.transcribe(
            audio,
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            no_speech_threshold=None,  # never drop a window: transformers' generate does not
            vad_filter=False,
        )
        return "".join(s.text for s in segments).strip()

    def features(self, audio: np.ndarray) -> np.ndarray:
        """The log-mel ``transcribe()`` encodes: the audio's frames, zero-padded to 30 s."""
        from faster_whisper.audio import pad_or_trim

        return pad_or_trim(self.model.feature_extractor(audio)).astype(np.float32)

    def generate(self, features: np.ndarray, logits: bool = False) -> Any:
        import ctranslate2

        return self.model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
            [self.tokenizer.sot_sequence + [self.tokenizer.no_timestamps]] * len(features),
            beam_size=1,
            suppress_blank=True,
            suppress_tokens=self.suppress,
            return_logits_vocab=logits,
        )

    def greedy(self, features: np.ndarray) -> list[str]:
        results = self.generate(features)
        return [self.tokenizer.decode(r.sequences_ids[0]).strip() for r in results]


def _transformers_texts(model: Any, tokenizer: Any, features: np.ndarray) -> list[str]:
    texts = []
    for start in range(0, len(features), 8):
        with torch.no_grad():
            ids = model.generate(torch.from_numpy(features[start : start + 8]))
        texts += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids]
    return texts


def _logit_difference(reference: _FasterWhisper, model: Any, features: np.ndarray) -> float:
    """Teacher-forced transformers logits against CTranslate2's on its own greedy path."""
    result = reference.generate(features[:1], logits=True)[0]
    expected = np.stack([np.asarray(step).reshape(-1) for step in result.logits[0]])
    prompt = reference.tokenizer.sot_sequence + [reference.tokenizer.no_timestamps]
    tokens = torch.tensor([prompt + result.sequences_ids[0]])
    with torch.no_grad():
        logits = model(input_features=torch.from_numpy(features[:1]), decoder_input_ids=tokens)
    actual = logits.logits[0, len(prompt) - 1 : len(prompt) - 1 + len(expected)].numpy()
    kept = expected > -1e30  # suppressed tokens are -FLT_MAX
    return float(np.abs(actual[kept] - expected[kept]).max())


def _first_difference(names: Sequence[str], ours: Sequence[str], theirs: Sequence[str], what: str):
    for name, a, b in zip(names, ours, theirs, strict=True):
        if a != b:
            raise ConversionError(f"prompt {name}, {what}: transformers {a!r} ≠ {b!r}")


def check(folder: Path, source: Path, count: int, part: str | None = "b") -> CheckResult:
    """Greedy transcripts of the converted ``folder`` against faster-whisper's on ``source``.

    Raises ConversionError with the first differing pair on either required comparison.
    """
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    started = time.perf_counter()
    names, audio = zip(*english_prompts(count, part), strict=True)
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    reference = _FasterWhisper(source)
    expected = [reference.transcribe(a) for a in audio]
    fw_input = np.stack([reference.features(a) for a in audio])
    hf_input = processor.feature_extractor(
        list(audio), sampling_rate=16_000, return_tensors="np"
    ).input_features.astype(np.float32)
    on_fw = _transformers_texts(model, processor.tokenizer, fw_input)
    _first_difference(names, on_fw, expected, "on faster-whisper's log-mel, its transcribe()")
    on_hf = _transformers_texts(model, processor.tokenizer, hf_input)
    ct2_on_hf = reference.greedy(hf_input)
    _first_difference(names, on_hf, ct2_on_hf, "on transformers' log-mel, CTranslate2")
    across = [
        {"prompt": n, "faster_whisper": e, "transformers": t}
        for n, e, t in zip(names, expected, on_hf, strict=True)
        if e != t
    ]
    return CheckResult(
        prompts=len(names),
        equal_on_faster_whisper_input=len(names),
        equal_on_transformers_input=len(names),
        equal_across_inputs=len(names) - len(across),
        max_logit_difference=_logit_difference(reference, model, fw_input),
        seconds=round(time.perf_counter() - started, 1),
        across_inputs=across,
    )


# ---- the cached folder ---------------------------------------------------------------------


def _source() -> tuple[Path, str, str]:
    """(checked package folder, model.bin's pinned sha256, the pip requirement)."""
    packaged = models.WHISPER_MODELS["tiny.en"]
    sha = next(f.sha256 for f in packaged.files if f.name == "model.bin")
    return models.model_folder(packaged), sha, packaged.requirement


def read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _reusable(stamp: dict[str, Any] | None, sha: str, count: int) -> bool:
    return bool(
        stamp
        and stamp.get("format") == FORMAT
        and stamp.get("source_sha256") == sha
        and stamp.get("check", {}).get("prompts", 0) >= count
    )


def convert(out: Path | str, check_prompts: int = 20, part: str | None = "b") -> Path:
    """The converted, checked transformers folder at ``out``; a no-op when ``out`` holds a stamp
    of the same source model.bin whose check covered at least ``check_prompts`` prompts."""
    out = Path(out)
    if check_prompts < 1:
        raise ValueError("check_prompts must be at least 1: an unchecked conversion is not kept")
    source, sha, requirement = _source()
    stamp = read_stamp(out)
    if _reusable(stamp, sha, check_prompts):
        return out
    if out.exists() and stamp is None and any(out.iterdir()):
        raise ConversionError(f"{out} exists and is no ct2_whisper conversion; choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        started = time.perf_counter()
        model, processor, facts = build_model(source)
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        built = round(time.perf_counter() - started, 1)
        result = check(staging, source, check_prompts, part)
        stamp = {
            "format": FORMAT,
            "source": f"{requirement}: {source / 'model.bin'}",
            "source_sha256": sha,
            "conversion_seconds": built,
            **facts,
            "check": asdict(result),
        }
        (staging / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")  # written last
        staging.chmod(0o755)  # mkdtemp's 0700, and safetensors' 0600, are not a model folder's
        for path in staging.iterdir():
            path.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)  # an older stamped conversion, or an empty folder
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder of the checkpoint")
    parser.add_argument("--check-prompts", type=int, default=20, help="real prompts to compare")
    args = parser.parse_args(argv)
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    started = time.perf_counter()
    try:
        folder = convert(args.out, args.check_prompts)
    except (ConversionError, models.ModelFileError, ValueError) as error:
        print(f"ct2_whisper: {error}", file=sys.stderr)
        return 1
    stamp = json.loads((folder / STAMP).read_text())
    r = stamp["check"]
    print(
        f"{folder} (this call {time.perf_counter() - started:.1f} s): built in "
        f"{stamp['conversion_seconds']} s, checked in {r['seconds']} s on {r['prompts']} prompts"
    )
    print(
        f"  equal greedy transcripts: transformers vs faster-whisper's transcribe() on its "
        f"log-mel {r['equal_on_faster_whisper_input']}/{r['prompts']}, vs CTranslate2 on "
        f"transformers' log-mel {r['equal_on_transformers_input']}/{r['prompts']}, across the "
        f"two front ends {r['equal_across_inputs']}/{r['prompts']}; "
        f"max |Δ logit| {r['max_logit_difference']:.1e}"
    )
    for row in r["across_inputs"]:
        print(
            f"  {row['prompt']}: faster-whisper {row['faster_whisper']!r}, "
            f"transformers {row['transformers']!r}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
