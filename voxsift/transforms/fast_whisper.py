"""Whisper through faster-whisper (CTranslate2) as the pseudo-labeling teacher.

``label.teacher: faster-whisper:NAME_OR_PATH``: ``tiny.en`` and ``base`` are the packaged
models (:mod:`voxsift.models`, every file checked against its pinned sha256 before loading);
anything else is a local CTranslate2 Whisper folder (``model.bin``, ``config.json``,
``tokenizer.json``, as ``ct2-transformers-converter`` writes it).

A RunInference batch of segments (``label.batch_size``) is one encoder call, one language
detection on the encoder output (multilingual models with ``label.language: null``), one beam
search and one alignment pass: what faster-whisper's ``BatchedInferencePipeline`` does for the
chunks of one long file, applied here to independent segments, each with its own language.
Decoding is at temperature 0 without timestamps, from the clip's start with no previous text,
so a label never depends on the segments decoded before it. Each clip is one 30 s window (a
segment is at most ``segment.max_seconds``). On two CPU cores a batch is not faster than one
segment per call (CTranslate2 already spreads one over the cores); batches are for a GPU,
which was not measured here. bench/real_speech.py measures both on the CPU, and faster-whisper's
own ``transcribe()`` per segment.

Confidences. CTranslate2's alignment pass gives each text token its probability under the
model, teacher-forced on the decoded text (for greedy decoding exactly the probabilities the
search chose the tokens with). A word's confidence is the mean probability of its tokens, as
faster-whisper's ``Word.probability``; the utterance ``confidence`` is the geometric mean of the
word confidences, ``exp(mean(log p_word))``, so one word the model doubts pulls the utterance
down more than an arithmetic mean would. A clip that decodes to no word has confidence 0.
``avg_logprob`` is faster-whisper's (the beam score per generated token, end token included),
``no_speech_prob`` the probability of ``<|nospeech|>`` at the first step, and
``language_probability`` that of the chosen language token.
"""

from __future__ import annotations

import logging
import math
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxsift import models
from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.teacher import Teacher, Transcript

_FRAMES_PER_SECOND = 100
_MAX_FRAMES = 3000
_ALIGN_FILTER = 7
log = logging.getLogger(__name__)


def model_path(name: str) -> str:
    """The folder WhisperModel loads: the checked packaged model, or the local folder."""
    if name in models.WHISPER_MODELS:
        return str(models.model_folder(models.WHISPER_MODELS[name]))
    models.check_whisper(name)
    return str(Path(name).expanduser())


@dataclass(frozen=True)
class Options:
    """How the teacher decodes; built from ``label`` settings by :meth:`from_settings`."""

    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = 5
    language: str | None = "en"
    max_new_tokens: int = 128
    threads: int = 0

    @classmethod
    def from_settings(cls, settings) -> Options:
        return cls(
            device=settings.device,
            compute_type=settings.compute_type,
            beam_size=settings.beam_size,
            language=settings.language,
            max_new_tokens=settings.max_new_tokens,
        )


def ct2_device(setting: str) -> tuple[str, int]:
    """(CTranslate2 device, index): a GPU when asked for (or "auto") and present, else the CPU."""
    import ctranslate2

    if setting == "cpu":
        return "cpu", 0
    if ctranslate2.get_cuda_device_count() > 0:
        index = int(setting.split(":", 1)[1]) if setting.startswith("cuda:") else 0
        return "cuda", index
    if setting != "auto":
        log.warning("device %r requested but CTranslate2 sees no GPU; running on the CPU", setting)
    return "cpu", 0


def default_compute_type(device: str, compute_type: str) -> str:
    """int8 on the CPU (CTranslate2's fast path), float16 on a GPU, unless set."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


def cpu_threads() -> int:
    """Threads per model on the CPU: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def utterance_confidence(word_confidences: Sequence[float]) -> float:
    """Geometric mean of the word confidences; 0 for no word."""
    if not word_confidences:
        return 0.0
    logs = [math.log(max(p, 1e-12)) for p in word_confidences]
    return math.exp(sum(logs) / len(logs))


def word_probabilities(words: Sequence[str], token_groups, token_probs) -> list[float]:
    """Mean token probability of each word that holds a letter or digit (punctuation is no word).

    ``token_groups`` are the word's tokens as faster-whisper's tokenizer splits them, with
    ``token_probs`` one probability per text token in the same order.
    """
    out, start = [], 0
    for word, tokens in zip(words, token_groups, strict=True):
        probs = token_probs[start : start + len(tokens)]
        start += len(tokens)
        if probs and word.strip(string.punctuation + " ").strip():
            out.append(float(np.mean(probs)))
    return out


class FasterWhisper(Teacher):
    """A CTranslate2 Whisper model, loaded once per worker, decoding a batch of segments."""

    @classmethod
    def load(cls, spec, settings) -> FasterWhisper:
        return cls(spec.name, Options.from_settings(settings))

    def __init__(self, name: str, options: Options):
        from faster_whisper import WhisperModel

        device, index = ct2_device(options.device)
        self._options = options
        self._model = WhisperModel(
            model_path(name),
            device=device,
            device_index=index,
            compute_type=default_compute_type(device, options.compute_type),
            cpu_threads=options.threads or cpu_threads(),
            local_files_only=True,
        )
        self._multilingual = self._model.model.is_multilingual
        self._tokenizers: dict[str | None, object] = {}

    def transcribe(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        """One encoder call, one language detection, one beam search, one alignment pass."""
        if not batch:
            return []
        features = np.stack([self._features(audio) for audio in batch])
        encoded = self._model.encode(features)
        languages, probabilities = self._languages(encoded, len(batch))
        results = self._decode(encoded, languages)
        eot = self._tokenizer(languages[0]).eot
        tokens = [[t for t in r.sequences_ids[0] if t < eot] for r in results]
        frames = [min(_MAX_FRAMES, max(1, len(audio) * _FRAMES_PER_SECOND // SAMPLE_RATE))
                  for audio in batch]  # fmt: skip
        words = self._word_confidences(features, encoded, languages, tokens, frames)
        detected = self._multilingual and self._options.language is None
        return [
            Transcript(
                text=self._tokenizer(languages[i]).decode(tokens[i]).strip(),
                confidence=utterance_confidence(words[i]),
                word_confidences=words[i],
                avg_logprob=_avg_logprob(result),
                no_speech_prob=float(result.no_speech_prob),
                language=languages[i] if detected else None,
                language_probability=probabilities[i] if detected else None,
            )
            for i, result in enumerate(results)
        ]

    def _decode(self, encoded, languages: list[str]):
        """Beam search at temperature 0 from each segment's own prompt, without timestamps."""
        tokenizers = [self._tokenizer(language) for language in languages]
        prompts = [self._model.get_prompt(t, [], without_timestamps=True) for t in tokenizers]
        return self._model.model.generate(
            encoded,
            prompts,
            beam_size=self._options.beam_size,
            max_length=max(len(p) for p in prompts) + self._options.max_new_tokens,
            suppress_blank=True,
            suppress_tokens=self._suppressed(tokenizers[0]),
            return_scores=True,
            return_no_speech_prob=True,
        )

    def _features(self, audio: np.ndarray) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(np.asarray(audio, dtype=np.float32))[..., :-1]
        return pad_or_trim(features, _MAX_FRAMES).astype(np.float32)

    def _fixed_language(self) -> str | None:
        return self._options.language if self._multilingual else "en"

    def _languages(self, encoded, size: int) -> tuple[list[str], list[float | None]]:
        """The fixed language, or per segment the most probable language token."""
        fixed = self._fixed_language()
        if fixed is not None:
            return [fixed] * size, [None] * size
        found = self._model.model.detect_language(encoded)
        return [r[0][0][2:-2] for r in found], [float(r[0][1]) for r in found]

    def _tokenizer(self, language: str):
        from faster_whisper.tokenizer import Tokenizer

        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self._model.hf_tokenizer, self._multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]

    def _suppressed(self, tokenizer) -> list[int]:
        """faster-whisper's default: non-speech symbols and the task and special tokens."""
        from faster_whisper.transcribe import get_suppressed_tokens

        return list(get_suppressed_tokens(tokenizer, [-1]))

    def _word_confidences(self, features, encoded, languages, tokens, frames) -> list[list[float]]:
        """Alignment pass per language: each text token's probability, grouped into words.

        The alignment prompt holds the language token, so a batch of several languages is
        aligned per language on its own part of the batch (re-encoded; rare in practice).
        """
        out: list[list[float]] = [[] for _ in tokens]
        for language in sorted(set(languages)):
            rows = [i for i, lang in enumerate(languages) if lang == language and tokens[i]]
            if not rows:
                continue
            part = encoded if len(rows) == len(tokens) else self._model.encode(features[rows])
            tokenizer = self._tokenizer(language)
            aligned = self._model.model.align(
                part,
                tokenizer.sot_sequence,
                [tokens[i] for i in rows],
                [frames[i] for i in rows],
                median_filter_width=_ALIGN_FILTER,
            )
            for i, result in zip(rows, aligned, strict=True):
                words, groups = tokenizer.split_to_word_tokens(tokens[i])
                out[i] = word_probabilities(words, groups, list(result.text_token_probs))
        return out


def _avg_logprob(result) -> float:
    """faster-whisper's average log-probability: the beam score per token, end token counted."""
    length = len(result.sequences_ids[0])
    return float(result.scores[0]) * length / (length + 1)
