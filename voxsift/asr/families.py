"""What differs between model families: features, labels, per-sample loss and greedy decoding.

A family object holds only picklable parts (feature extractor, text codec, a few integers), so the
loader's workers can build model inputs; the network is passed in at each call, whatever adapter
wraps it. Losses are returned per sample because Hugging Face models reduce to a batch mean,
which would hide each sample's ``weight``.

Token-level weights (``weights_tokens``): Whisper's loss is a mean of per-token cross-entropies,
so each token can carry a weight, and :meth:`WhisperFamily.token_weights` maps word weights onto
tokens. A CTC loss is a sum over all alignments of the label sequence to the frames, with no
per-token term to weight: CTC families leave token weights off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from voxsift.asr.vocab import CharVocab

IGNORE = -100
"""Label value that the loss skips (padding and prompt positions)."""


class CharCtcCodec:
    """Characters of the shards' text, blank at 0 (wav2vec 2.0 convention)."""

    def __init__(self, vocab: CharVocab) -> None:
        self.vocab = vocab
        self.blank = 0
        self.unknown = vocab.index("<unk>")

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(text, self.unknown)

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocab.decode(ids, frozenset({self.blank, self.unknown}))


class HubCtcCodec:
    """A checkpoint's own CTC tokenizer (its pad token is the blank)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.blank = int(tokenizer.pad_token_id)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text).input_ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), group_tokens=False, skip_special_tokens=True)


class CharWhisperCodec:
    """Character-level Whisper vocabulary for `random:whisper`, with Whisper's special tokens."""

    def __init__(self, vocab: CharVocab, language: str, task: str) -> None:
        self.vocab = vocab
        self.eot = vocab.index("<|endoftext|>")
        self.sot = vocab.index("<|startoftranscript|>")
        self.unknown = vocab.index("<unk>")
        lang = vocab.index(f"<|{language}|>")
        self.prompt = [self.sot, lang, vocab.index(f"<|{task}|>"), vocab.index("<|notimestamps|>")]
        self._special = frozenset(
            i for i, t in enumerate(vocab.tokens) if len(t) > 1 and t.startswith("<")
        )

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(text, self.unknown)

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocab.decode(ids, self._special)


class HubWhisperCodec:
    """A checkpoint's Whisper tokenizer with its language and task prefix tokens set (None for
    both on an English-only Whisper, whose prompt has neither)."""

    def __init__(self, tokenizer: Any, language: str | None, task: str | None) -> None:
        tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
        self.tokenizer = tokenizer
        self.prompt = list(tokenizer.prefix_tokens)
        self.sot = self.prompt[0]
        self.eot = int(tokenizer.eos_token_id)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def pad_ids(rows: Sequence[Sequence[int]], value: int) -> Tensor:
    """Right-pad integer rows into one tensor."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


class WhisperFamily:
    """Sequence-to-sequence Whisper: log-mel over a fixed window, prompt tokens, teacher forcing."""

    name = "whisper"
    weights_tokens = True
    """Its per-sample loss can weight tokens (``collate(..., token_weights=...)``)."""

    def __init__(
        self, codec: CharWhisperCodec | HubWhisperCodec, features: Any, max_tokens: int
    ) -> None:
        self.codec = codec
        self.features = features
        self.window_seconds = float(features.chunk_length)
        self.max_tokens = max_tokens

    def label_fits(self, text: str, duration: float) -> bool:
        """Prompt + text must fit the decoder's positions, or the model fails mid-batch."""
        del duration  # the window is checked against max_seconds at setup
        return len(self.codec.prompt) + len(self.codec.encode(text)) <= self.max_tokens

    def token_weights(self, text: str, word_weights: Sequence[float]) -> tuple[float, ...] | None:
        """Each whitespace word's weight on each of its text tokens, scaled to mean 1.

        Words are tokenized one by one, each after the space the tokenizer attaches to the start
        of a word (Whisper's byte-level BPE, like GPT-2's, never merges across a space, and the
        character codec has a token for it), so the pieces add up to the text's own tokens. When
        they do not (a text with extra spaces), or the counts differ, the answer is None: no
        weights rather than weights on the wrong tokens. All-zero word weights give uniform ones.
        """
        words = text.split()
        pieces = [self.codec.encode(w if i == 0 else f" {w}") for i, w in enumerate(words)]
        joined = [token for piece in pieces for token in piece]
        if len(words) != len(word_weights) or joined != self.codec.encode(text):
            return None
        weights = [w for piece, w in zip(pieces, word_weights, strict=True) for _ in piece]
        mean = sum(weights) / len(weights)
        return tuple(w / mean if mean > 0 else 1.0 for w in weights)

    def collate(
        self,
        audio: Sequence[np.ndarray],
        texts: Sequence[str],
        token_weights: Sequence[Sequence[float] | None] | None = None,
    ) -> dict[str, Tensor]:
        """Log-mel features padded to the window; labels = prompt[1:] + text + eot, -100 padded.

        The start-of-transcript token is the decoder's start token, so it is not a label.
        ``token_weights`` (per sample: its text tokens' weights from :meth:`token_weights`, or
        None) adds a ``token_weights`` input aligned with the labels; the prompt tokens, the
        end-of-text token, padding and samples without weights weigh 1.
        """
        feats = self.features(list(audio), sampling_rate=16_000, return_tensors="pt").input_features
        rows = [self.codec.prompt[1:] + self.codec.encode(t) + [self.codec.eot] for t in texts]
        inputs = {"input_features": feats, "labels": pad_ids(rows, IGNORE)}
        if token_weights is not None:
            inputs["token_weights"] = self._weight_rows(rows, token_weights, inputs["labels"])
        return inputs

    def _weight_rows(
        self, rows: list[list[int]], weights: Sequence[Sequence[float] | None], labels: Tensor
    ) -> Tensor:
        out = torch.ones(labels.shape, dtype=torch.float32)
        start = len(self.codec.prompt) - 1
        for i, (row, row_weights) in enumerate(zip(rows, weights, strict=True)):
            if row_weights is None:
                continue
            if len(row_weights) != len(row) - start - 1:
                raise ValueError(
                    f"sample {i}: {len(row_weights)} token weights for "
                    f"{len(row) - start - 1} text tokens"
                )
            out[i, start : start + len(row_weights)] = torch.tensor(row_weights)
        return out

    def per_sample_loss(self, network: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        labels = inputs["labels"]
        start = torch.full_like(labels[:, :1], self.codec.sot)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        decoder_ids = shifted.masked_fill(shifted == IGNORE, self.codec.eot)
        logits = network(
            input_features=inputs["input_features"], decoder_input_ids=decoder_ids
        ).logits
        return _mean_token_loss(logits, labels, inputs.get("token_weights"))

    @torch.no_grad()
    def transcribe(
        self, network: nn.Module, inputs: dict[str, Tensor], max_new_tokens: int
    ) -> list[str]:
        """Greedy decoding from the language/task prompt, with the decoder's key-value cache."""
        feats = inputs["input_features"]
        encoder_outputs = network.get_encoder()(feats)
        ids = torch.tensor([self.codec.prompt] * len(feats), device=feats.device)
        done = torch.zeros(len(feats), dtype=torch.bool, device=feats.device)
        past, step_ids = None, ids
        for _ in range(min(max_new_tokens, self.max_tokens - len(self.codec.prompt))):
            out = network(
                encoder_outputs=encoder_outputs,
                decoder_input_ids=step_ids,
                cache=past,
                use_cache=True,
            )
            past = out.cache
            token = out.logits[:, -1].argmax(-1).masked_fill(done, self.codec.eot)
            ids = torch.cat([ids, token[:, None]], dim=1)
            step_ids = token[:, None]
            done |= token == self.codec.eot
            if bool(done.all()):
                break
        prompt = len(self.codec.prompt)
        return [self.codec.decode(_until(row[prompt:].tolist(), self.codec.eot)) for row in ids]


class CtcFamily:
    """CTC encoders: wav2vec 2.0, HuBERT, WavLM (raw waveform in) or Parakeet (log-mel in).

    ``stages`` are the (kernel, stride, total padding) of each strided step from samples to
    output frames (a spectrogram's hop counts as one), so the frame count of a clip is known from
    its length alone: the loader checks that a label fits before the network sees it.
    """

    name = "ctc"
    window_seconds = 0.0
    weights_tokens = False
    """A CTC loss sums over alignments: there is no per-token term to weight."""

    def __init__(
        self,
        codec: CharCtcCodec | HubCtcCodec,
        features: Any,
        stages: Sequence[tuple[int, int, int]],
        input_name: str = "input_values",
    ) -> None:
        self.codec = codec
        self.features = features
        self.stages = [tuple(stage) for stage in stages]
        self.input_name = input_name

    def label_fits(self, text: str, duration: float) -> bool:
        """CTC needs a frame per label plus a blank between repeated labels."""
        ids = self.codec.encode(text)
        repeats = sum(a == b for a, b in zip(ids, ids[1:], strict=False))
        frames = int(self.frames(torch.tensor(int(duration * 16_000))))
        return len(ids) + repeats <= frames

    def collate(self, audio: Sequence[np.ndarray], texts: Sequence[str]) -> dict[str, Tensor]:
        """Model inputs padded to the longest clip, their lengths in samples, padded labels."""
        batch = self.features(
            list(audio),
            sampling_rate=16_000,
            padding=True,
            return_tensors="pt",
            return_attention_mask=True,
        )
        lengths = torch.tensor([len(a) for a in audio], dtype=torch.long)
        rows = [self.codec.encode(t) for t in texts]
        return {
            self.input_name: batch[self.input_name],
            "attention_mask": batch.attention_mask,
            "lengths": lengths,
            "labels": pad_ids(rows, IGNORE),
        }

    def frames(self, lengths: Tensor) -> Tensor:
        """Output frames of the convolutional front end for inputs of these sample counts."""
        for kernel, stride, padding in self.stages:
            lengths = torch.div(lengths + padding - kernel, stride, rounding_mode="floor") + 1
        return lengths

    def log_probs(self, network: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        """Per-frame log-posteriors (batch, frames, vocabulary), in float32."""
        mask = inputs["attention_mask"] if self.features.return_attention_mask else None
        logits = network(**{self.input_name: inputs[self.input_name]}, attention_mask=mask).logits
        return logits.float().log_softmax(-1)

    def per_sample_loss(self, network: nn.Module, inputs: dict[str, Tensor]) -> Tensor:
        """CTC loss per sample divided by its label length (the 'mean' reduction, unreduced)."""
        log_probs = self.log_probs(network, inputs)
        labels = inputs["labels"]
        target_lengths = (labels != IGNORE).sum(1)
        loss = F.ctc_loss(
            log_probs.transpose(0, 1),
            labels.clamp(min=0),
            self.frames(inputs["lengths"]).clamp(max=log_probs.shape[1]),
            target_lengths,
            blank=self.codec.blank,
            reduction="none",
            zero_infinity=True,
        )
        return loss / target_lengths.clamp(min=1)

    @torch.no_grad()
    def transcribe(
        self, network: nn.Module, inputs: dict[str, Tensor], max_new_tokens: int
    ) -> list[str]:
        """Best path: argmax per frame, repeats collapsed, blanks dropped."""
        del max_new_tokens  # CTC emits one label per frame
        best = self.log_probs(network, inputs).argmax(-1)
        texts = []
        for row, n in zip(best, self.frames(inputs["lengths"]).tolist(), strict=True):
            ids = torch.unique_consecutive(row[:n]).tolist()
            texts.append(self.codec.decode([i for i in ids if i != self.codec.blank]))
        return texts


def _mean_token_loss(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """Cross-entropy averaged over each sample's own label tokens, each times its weight.

    The weights have mean 1 over a sample's labels (see ``WhisperFamily.token_weights``), so
    dividing by the label count makes this their weighted mean, the plain mean when all are 1.
    """
    ce = F.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none"
    )
    if weights is not None:
        ce = ce * weights.to(ce.dtype)
    counts = (labels != IGNORE).sum(1).clamp(min=1)
    return ce.sum(1) / counts


def _until(ids: list[int], stop: int) -> list[int]:
    return ids[: ids.index(stop)] if stop in ids else ids
