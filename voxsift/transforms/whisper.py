"""Whisper as a pseudo-labeling teacher, through transformers, with its hallucination signals.

Besides the text it returns what Whisper's own decoder uses to distrust a result: the average
log-probability of the generated tokens, the no-speech probability (the ``<|nospeech|>`` token's
probability at the first decoding step) and, in :mod:`label`, the text's compression ratio.
Token log-probabilities become word and utterance confidences. The encoder runs once per batch:
its output serves the first step (no-speech, language) and the generation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from voxsift.asr.devices import resolve_device
from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.settings import LabelSettings
from voxsift.transforms.teacher import Teacher, Transcript

NO_SPEECH_TOKENS = ("<|nospeech|>", "<|nocaptions|>")
"""The no-speech token of Whisper v3, then of v1/v2 and the English-only models."""


def group_words(pieces: Sequence[str], logprobs: Sequence[float]) -> list[float]:
    """Word confidences: exp of the mean log-probability of each word's tokens.

    Byte-level BPE marks a word start with a leading space, so a piece that starts with one
    opens a new word; pieces that hold only spaces belong to no word.
    """
    words: list[list[float]] = []
    for piece, logprob in zip(pieces, logprobs, strict=True):
        if not piece.strip():
            continue
        if piece.startswith(" ") or not words:
            words.append([])
        words[-1].append(logprob)
    return [math.exp(sum(word) / len(word)) for word in words]


class Whisper(Teacher):
    """A Whisper checkpoint by hub name or local path; fp16 on a GPU, fp32 on the CPU."""

    def __init__(self, name: str, settings: LabelSettings):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self._device = resolve_device(settings.device)
        self._dtype = torch.float16 if self._device.startswith("cuda") else torch.float32
        self._processor = WhisperProcessor.from_pretrained(name)
        model = WhisperForConditionalGeneration.from_pretrained(name)
        self._model = model.to(device=self._device, dtype=self._dtype).eval()
        self._settings = settings
        self._generation = copy.deepcopy(model.generation_config)
        self._generation.update(
            max_new_tokens=settings.max_new_tokens,
            output_scores=True,
            return_dict_in_generate=True,
        )
        tokenizer = self._processor.tokenizer
        self._special = set(tokenizer.all_special_ids)
        eos = model.generation_config.eos_token_id
        self._eos = set(eos) if isinstance(eos, list) else {eos}
        vocab = tokenizer.get_vocab()
        known = [vocab[token] for token in NO_SPEECH_TOKENS if token in vocab]
        self._no_speech = known[0] if known else None
        lang_to_id = getattr(model.generation_config, "lang_to_id", None) or {}
        self._languages = {token_id: token[2:-2] for token, token_id in lang_to_id.items()}

    def transcribe(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        import torch

        features = self._processor.feature_extractor(
            [np.asarray(audio, dtype=np.float32) for audio in batch],
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
        ).input_features.to(self._device, self._dtype)
        with torch.inference_mode():
            encoded = self._model.get_encoder()(features)
            first = self._first_step(encoded)
            languages = self._pick_languages(first)
            out = self._model.generate(
                input_features=features,
                encoder_outputs=encoded,
                generation_config=self._generation,
                **self._language_args(languages),
            )
            logprobs = self._model.compute_transition_scores(
                out.sequences, out.scores, normalize_logits=True
            )
        generated = out.sequences[:, -logprobs.shape[1] :].cpu().tolist()
        logprobs = logprobs.float().cpu().numpy()
        no_speech = self._no_speech_probs(first)
        return [
            self._transcript(generated[i], logprobs[i], no_speech[i], languages[i])
            for i in range(len(batch))
        ]

    def _first_step(self, encoded):
        """Next-token probabilities after ``<|startoftranscript|>``, as Whisper reads them."""
        import torch

        start = self._model.generation_config.decoder_start_token_id
        prompt = torch.full((encoded[0].shape[0], 1), start, device=self._device)
        logits = self._model(encoder_outputs=encoded, decoder_input_ids=prompt).logits[:, -1]
        return logits.float().softmax(dim=-1)

    def _pick_languages(self, first) -> list[str | None]:
        """The fixed language, or per segment the most probable language token (multilingual)."""
        size = first.shape[0]
        if not self._languages:
            return [None] * size
        if self._settings.language:
            return [self._settings.language] * size
        ids = list(self._languages)
        best = first[:, ids].argmax(dim=-1).tolist()
        return [self._languages[ids[b]] for b in best]

    def _language_args(self, languages: list[str | None]) -> dict:
        if not self._languages:
            return {}
        return {"language": list(languages), "task": "transcribe"}

    def _no_speech_probs(self, first) -> list[float | None]:
        if self._no_speech is None:
            return [None] * first.shape[0]
        return first[:, self._no_speech].cpu().tolist()

    def _transcript(
        self, tokens: list[int], logprobs: np.ndarray, no_speech: float | None, language: str | None
    ) -> Transcript:
        """Cut at the end-of-text token; confidences from the text tokens' log-probabilities."""
        ends = [i + 1 for i, token in enumerate(tokens) if token in self._eos]
        steps = ends[0] if ends else len(tokens)
        avg_logprob = float(np.mean(logprobs[:steps])) if steps else 0.0
        text_ids = [(t, float(p)) for t, p in zip(tokens[:steps], logprobs, strict=False)]
        text_ids = [(t, p) for t, p in text_ids if t not in self._special]
        tokenizer = self._processor.tokenizer
        pieces = [tokenizer.decode([t]) for t, _ in text_ids]
        return Transcript(
            text=tokenizer.decode([t for t, _ in text_ids], skip_special_tokens=True).strip(),
            confidence=math.exp(avg_logprob),
            word_confidences=group_words(pieces, [p for _, p in text_ids]),
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech,
            language=None if self._settings.language else language,
        )
