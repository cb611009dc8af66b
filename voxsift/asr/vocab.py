"""Character vocabularies for models whose checkpoint brings no tokenizer.

A CTC head fine-tuned from a self-supervised encoder (wav2vec 2.0, HuBERT) has no output
vocabulary, and the offline `random:` models have no tokenizer files; both get characters
collected from the shards' text. The vocabulary is saved beside the adapter so a fresh base
is rebuilt with the same output layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WORD_DELIMITER = "|"
"""wav2vec 2.0's convention: spaces become this token, so the vocabulary has no blank char."""


@dataclass(frozen=True)
class CharVocab:
    """Ordered tokens: reserved ones first (CTC blank at 0), then characters sorted."""

    tokens: tuple[str, ...]

    @classmethod
    def from_texts(cls, texts: Iterable[str], reserved: Sequence[str]) -> CharVocab:
        chars = {WORD_DELIMITER if c == " " else c for text in texts for c in text}
        chars -= set(reserved)
        if not chars:
            raise ValueError("the shards hold no text to build a character vocabulary from")
        return cls(tuple(reserved) + tuple(sorted(chars)))

    def __len__(self) -> int:
        return len(self.tokens)

    def index(self, token: str) -> int:
        return self.tokens.index(token)

    def encode(self, text: str, unknown: int) -> list[int]:
        """Character ids; a character unseen when the vocabulary was built maps to ``unknown``."""
        lookup = {t: i for i, t in enumerate(self.tokens)}
        return [lookup.get(WORD_DELIMITER if c == " " else c, unknown) for c in text]

    def decode(self, ids: Iterable[int], skip: frozenset[int]) -> str:
        text = "".join(self.tokens[i] for i in ids if i not in skip and i < len(self.tokens))
        return text.replace(WORD_DELIMITER, " ")


CTC_RESERVED = ("<pad>", "<unk>")
"""``<pad>`` doubles as the CTC blank, as in Hugging Face's wav2vec 2.0 tokenizers."""

WHISPER_RESERVED = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|transcribe|>",
    "<|translate|>",
    "<|notimestamps|>",
)
"""Special tokens of a character-level Whisper built offline; language tokens are added after."""
