"""Chinese text processing: a jieba tokenizer with the domain vocabulary.

Built on its own ``jieba.Tokenizer`` instance (never the global one, so other code in the
process keeps its dictionary), loaded with ``data/vocab/userdict.txt``; words are then
mapped through ``synonyms.tsv`` (what firms say → the policy's term) and filtered by
``stopwords.txt``. One instance per process (``default_tokenizer()``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba

from .knowledge import VOCAB_DIR

jieba.setLogLevel(logging.WARNING)

_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# Customs supervision codes that name cross-border e-commerce modes.
KEPT_NUMBERS = frozenset({"9610", "9710", "9810", "1210", "1239"})
_ASCII_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower-case Latin, collapse whitespace."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def read_synonyms(path: Path) -> dict[str, str]:
    mapping: dict[str, str] = {}
    if not path.exists():
        return mapping
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip() or line.startswith("#") or (n == 0 and line.startswith("variant")):
            continue
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip() and parts[1].strip():
            mapping[normalize(parts[0])] = normalize(parts[1])
    return mapping


def read_words(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {normalize(w) for w in path.read_text(encoding="utf-8").splitlines() if w.strip() and not w.startswith("#")}


class ChineseTokenizer:
    """Callable tokenizer for scikit-learn: ``tokenizer(text) -> list[str]``."""

    def __init__(self, vocab_dir: Path | str = VOCAB_DIR):
        vocab_dir = Path(vocab_dir)
        self.vocab_dir = vocab_dir
        # A trimmed copy of jieba's dictionary (words seen ≥5 times, see data/vocab/README.md)
        # loads in a quarter of the time of the full one; rare words fall back to jieba's HMM.
        base = vocab_dir / "base_dict.txt"
        self._jieba = jieba.Tokenizer(str(base)) if base.exists() else jieba.Tokenizer()
        userdict = vocab_dir / "userdict.txt"
        if userdict.exists():
            self._jieba.load_userdict(str(userdict))
        self.synonyms = read_synonyms(vocab_dir / "synonyms.tsv")
        self.stopwords = read_words(vocab_dir / "stopwords.txt")
        self._words_cached = lru_cache(maxsize=64)(self._segment)
        self._whole_cached = lru_cache(maxsize=64)(self._whole)
        # Multi-word synonym variants must stay whole in segmentation.
        for word in (*self.synonyms, *self.synonyms.values()):
            if len(word) > 1 and not _ASCII_WORD.match(word):
                self._jieba.add_word(word, freq=2000)

    def words(self, text: str) -> list[str]:
        """Segment, normalise synonyms, drop stopwords and punctuation.

        The word and character views both start from these words, so the last few results
        are memoised: one jieba pass per query, not two.
        """
        return list(self._words_cached(text))

    def whole_words(self, text: str) -> frozenset[str]:
        """The words of ``text`` as whole words (jieba's precise mode, no sub-words): "辅导备案"
        stays one word and does not also yield "辅导". Each word both as written and as its
        synonym's canonical term ("机器人" is also "智能化")."""
        return self._whole_cached(text)

    def _whole(self, text: str) -> frozenset[str]:
        raw = self._jieba.lcut(normalize(text), HMM=True)
        return frozenset(self._clean(raw)) | frozenset(self._clean(raw, synonyms=False))

    def _segment(self, text: str) -> tuple[str, ...]:
        return tuple(self._clean(self._jieba.lcut_for_search(normalize(text), HMM=True)))

    def _clean(self, raw_words, *, synonyms: bool = True) -> list[str]:
        out: list[str] = []
        for raw in raw_words:
            word = raw.strip()
            if not word or not _KEEP.search(word):
                continue
            if word.isdigit() and word not in KEPT_NUMBERS:
                continue  # amounts and years carry no topic; customs codes do
            if synonyms:
                word = self.synonyms.get(word, word)
            if word in self.stopwords:
                continue
            out.append(word)
        return out

    __call__ = words

    def canonical_text(self, text: str) -> str:
        """The text with synonyms replaced, for the character n-gram view."""
        return "".join(self.words(text))


def build_base_dict(min_freq: int = 5, target: Path | None = None) -> Path:
    """Write the trimmed jieba dictionary (see data/vocab/README.md)."""
    source = Path(jieba.__file__).parent / "dict.txt"
    target = target or VOCAB_DIR / "base_dict.txt"
    kept = [line for line in source.read_text(encoding="utf-8").splitlines()
            if line.strip() and int(line.split()[1]) >= min_freq]
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


@lru_cache(maxsize=2)
def default_tokenizer(vocab_dir: str | None = None) -> ChineseTokenizer:
    return ChineseTokenizer(Path(vocab_dir) if vocab_dir else VOCAB_DIR)
