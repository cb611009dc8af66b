"""Signals in a pseudo-label's text that a teacher failed: repetition and over-compressibility.

Whisper's best-known failure is a loop: a phrase emitted again and again ("thank you thank you
thank you ..."), often over silence or noise. Two measures of the text catch it, whatever the
teacher: the compression ratio (``label.compression_ratio``: UTF-8 bytes over zlib-compressed
bytes; Whisper itself retries a window above 2.4) and :func:`ngram_repeats`, the most
back-to-back copies of one word n-gram. The select stage filters on both
(``max_compression_ratio``, ``max_ngram_repeats``), beside the teacher's own ``no_speech_prob``
and the speaking rate.
"""

from __future__ import annotations

from voxsift.evaltext import normalize_for_eval

MAX_NGRAM = 8
"""The longest phrase, in words, whose repetition :func:`ngram_repeats` looks for."""


def ngram_repeats(text: str, max_n: int = MAX_NGRAM) -> int:
    """The most consecutive copies of one word n-gram (n ≤ ``max_n``) in the normalized text.

    1 when no phrase repeats back to back ("press one press two" is 1), 3 for "thank you thank
    you thank you", 0 for a text with no word. Punctuation and case do not count.
    """
    words = normalize_for_eval(text).split()
    best = 1 if words else 0
    for n in range(1, min(max_n, len(words) // 2) + 1):
        for start in range(len(words) - 2 * n + 1):
            copies = 1
            while words[start + copies * n : start + (copies + 1) * n] == words[start : start + n]:
                copies += 1
            best = max(best, copies)
    return best
