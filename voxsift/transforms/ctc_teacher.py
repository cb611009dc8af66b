"""A CTC model as a pseudo-labeling teacher (``label.teacher: ctc:PATH``), with confidences.

PATH is a CTC checkpoint (a hub name, or a hub-style wav2vec 2.0 / HuBERT / Parakeet folder with
its tokenizer, such as a base that ``voxsift train`` trained with ``adapter: full``) or a voxsift
train output folder holding an adapter on such a base. The model is loaded through
:mod:`voxsift.asr`, the same model and adapter code the trainer uses, so the teacher hears exactly
the features the model was trained on; it is imported lazily, so a curate worker without a
``ctc:`` teacher never loads it.

Decoding is greedy (best path: argmax per frame, repeats collapsed, blanks dropped). Confidences
follow Ask2Mask: a frame's confidence is its highest posterior; the utterance confidence is their
mean over all frames of the clip, and a word's is the mean over the frames that emit its
characters. A clip that decodes to no word gets confidence 0, as with pocketsphinx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from voxsift.asr.devices import resolve_device
from voxsift.transforms.settings import LabelSettings
from voxsift.transforms.teacher import Teacher, Transcript


def best_path_words(
    log_probs: np.ndarray,
    blank: int,
    delimiter: int | None,
    decode: Callable[[list[int]], str],
) -> tuple[str, float, list[float]]:
    """(text, utterance confidence, word confidences) of one clip's (frames, vocab) posteriors."""
    if not len(log_probs):
        return "", 0.0, []
    best = log_probs.argmax(axis=1)
    frame_confidence = np.exp(log_probs.max(axis=1))
    words: list[tuple[list[int], list[float]]] = [([], [])]
    previous = blank
    for label, confidence in zip(best.tolist(), frame_confidence.tolist(), strict=True):
        if label == delimiter:
            if words[-1][0]:
                words.append(([], []))
        elif label != blank:
            ids, confidences = words[-1]
            if label != previous:
                ids.append(label)
            confidences.append(confidence)
        previous = label
    decoded = [(decode(ids), confidences) for ids, confidences in words]
    decoded = [(text.strip(), c) for text, c in decoded if text.strip()]
    if not decoded:
        return "", 0.0, []
    text = " ".join(word for word, _ in decoded)
    return text, float(frame_confidence.mean()), [float(np.mean(c)) for _, c in decoded]


def _delimiter(codec) -> int | None:
    """The word delimiter's id: a hub tokenizer's, or ``|`` in a character vocabulary."""
    tokenizer = getattr(codec, "tokenizer", None)
    if tokenizer is not None:
        return getattr(tokenizer, "word_delimiter_token_id", None)
    tokens = codec.vocab.tokens
    return tokens.index("|") if "|" in tokens else None


def load_ctc(path: str):
    """(model, network) for PATH: a voxsift train folder, a checkpoint folder or a hub name."""
    from voxsift.asr.adapters import INFO_FILE, load_trained
    from voxsift.asr.models import build_model

    folder = Path(path).expanduser()
    marked = any((folder / name).exists() for name in (INFO_FILE, "config.json"))
    if folder.is_dir() and not marked:
        raise FileNotFoundError(
            f"ctc:{path}: the folder holds neither a checkpoint (config.json) nor a voxsift "
            f"train output ({INFO_FILE})"
        )
    if (folder / INFO_FILE).exists():
        model, adapter = load_trained(folder)
        return model, adapter.network
    model = build_model(str(folder) if folder.is_dir() else path)
    return model, model.network


class CtcTeacher(Teacher):
    """Greedy CTC decoding with frame-posterior confidences, on the configured device."""

    def __init__(self, path: str, settings: LabelSettings):
        import torch

        model, network = load_ctc(path)
        if model.family.name != "ctc":
            raise ValueError(f"ctc:{path} is a {model.family.name} model, not a CTC encoder")
        self._device = torch.device(resolve_device(settings.device))
        self._network = network.to(self._device).eval()
        self._family = model.family
        self._delimiter = _delimiter(model.family.codec)

    def transcribe(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        import torch

        audio = [np.asarray(clip, dtype=np.float32) for clip in batch]
        inputs = self._family.collate(audio, [""] * len(audio))
        frames = self._family.frames(inputs["lengths"]).tolist()
        inputs = {name: value.to(self._device) for name, value in inputs.items()}
        with torch.inference_mode():
            log_probs = self._family.log_probs(self._network, inputs).cpu().numpy()
        codec = self._family.codec
        results = []
        for clip, count in zip(log_probs, frames, strict=True):
            text, confidence, words = best_path_words(
                clip[: max(count, 0)], codec.blank, self._delimiter, codec.decode
            )
            results.append(Transcript(text, confidence, words))
        return results
