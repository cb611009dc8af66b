"""The evaluation normalizer and error rates used for every WER/CER in voxsift.

Training targets keep their written form; scores must not punish a model for writing "12" where
the reference says "twelve" or for a missing comma. Every WER/CER in the project (pseudo-label
filters, trainer evaluation, benchmarks) goes through :func:`normalize_for_eval` so the figures are
comparable with each other.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import jiwer

FILLERS = frozenset({"uh", "um", "umm", "uhm", "er", "erm", "ah", "eh", "hmm", "mm", "mhm", "hm"})
_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)(st|nd|rd|th)?\b")
_NON_WORD = re.compile(r"[^\w' ]+")
_SPACES = re.compile(r"\s+")


@functools.cache
def _inflect_engine():
    import inflect

    return inflect.engine()


def _spell_number(match: re.Match[str]) -> str:
    """Spell a digit run one way: "1,200" → "one thousand two hundred", "5th" → "fifth"."""
    token, ordinal_suffix = match.group(1).replace(",", ""), match.group(2)
    whole, _, fraction = token.partition(".")
    engine = _inflect_engine()
    if ordinal_suffix and not fraction:
        return f" {engine.number_to_words(engine.ordinal(int(whole)), andword='')} "
    words = engine.number_to_words(int(whole), andword="", zero="zero")
    if fraction:
        digits = " ".join(engine.number_to_words(int(d), zero="zero") for d in fraction)
        words = f"{words} point {digits}"
    return f" {words} "


def normalize_for_eval(text: str) -> str:
    """Lower-case, spell numbers, drop punctuation and fillers, squeeze spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _NUMBER.sub(_spell_number, text)
    text = text.replace("-", " ")
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    words = [w.strip("'") for w in _SPACES.split(text)]
    return " ".join(w for w in words if w and w not in FILLERS)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after evaluation normalization; an empty reference scores 0 only for an empty guess."""
    ref, hyp = normalize_for_eval(reference), normalize_for_eval(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp if hyp else ""))


def corpus_error_rates(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    """Corpus-level WER and CER (errors summed over utterances, not averaged per utterance)."""
    refs = [normalize_for_eval(r) for r in references]
    hyps = [normalize_for_eval(h) for h in hypotheses]
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    if not pairs:
        return {"wer": 0.0, "cer": 0.0}
    refs, hyps = zip(*pairs, strict=True)
    return {
        "wer": float(jiwer.wer(list(refs), list(hyps))),
        "cer": float(jiwer.cer(list(refs), list(hyps))),
    }


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ of a teacher's confidence against its label WER, with tied values sharing
    their mean rank (most label WERs are 0: ranking ties by position would invent a
    correlation); None with fewer than 3 points or a constant side."""
    import numpy as np
    from scipy.stats import rankdata

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])
