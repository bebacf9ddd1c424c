"""Chinese text processing: a jieba tokenizer with the domain vocabulary.

Built on its own ``jieba.Tokenizer`` instance (never the global one, so other code in the
process keeps its dictionary), loaded with ``data/vocab/userdict.txt``, and cut by
``segment.PreciseCut`` (jieba's own precise mode and HMM, their arithmetic done once); words are
then mapped through ``synonyms.tsv`` (what firms say → the policy's term) and filtered by
``stopwords.txt``. One instance per process (``default_tokenizer()``).
"""

from __future__ import annotations

import logging
import marshal
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from . import cache
from .knowledge import VOCAB_DIR
from .segment import PreciseCut, jieba

jieba.setLogLevel(logging.WARNING)
_DICT_CACHE = "jieba-{key}.marshal"

_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
# Customs supervision codes that name cross-border e-commerce modes.
KEPT_NUMBERS = frozenset({"9610", "9710", "9810", "1210", "1239"})
_ASCII_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower-case Latin, collapse whitespace."""
    if not unicodedata.is_normalized("NFKC", text):  # a quick check; most text already is
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).lower()  # str.split's whitespace is the \s of re


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
        self.synonyms = read_synonyms(vocab_dir / "synonyms.tsv")
        self.stopwords = read_words(vocab_dir / "stopwords.txt")
        self._words_cached = lru_cache(maxsize=64)(self._segment)
        self._whole_cached = lru_cache(maxsize=64)(self._whole)
        if not self._load_dictionary():
            self._build_dictionary()
        self._precise = PreciseCut(self._jieba)  # jieba's precise mode, its logarithms taken once

    def _build_dictionary(self) -> None:
        """jieba's prefix dictionary: the base words, the domain words, the synonyms."""
        userdict = self.vocab_dir / "userdict.txt"
        if userdict.exists():
            self._jieba.load_userdict(str(userdict))
        # Multi-word synonym variants must stay whole in segmentation.
        for word in (*self.synonyms, *self.synonyms.values()):
            if len(word) > 1 and not _ASCII_WORD.match(word):
                self._jieba.add_word(word, freq=2000)
        j = self._jieba
        forced = self._user_words()
        state = (j.FREQ, j.total, j.user_word_tag_tab, sorted(w for w in forced if j.FREQ.get(w) == 0))
        cache.write(_DICT_CACHE.format(key=self.fingerprint()), lambda f: f.write(marshal.dumps(state)))

    def _user_words(self) -> set[str]:
        """Words the domain dictionary sets to frequency 0 (jieba then force-splits them)."""
        userdict = self.vocab_dir / "userdict.txt"
        if not userdict.exists():
            return set()
        out = set()
        for line in userdict.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1] == "0":
                out.add(parts[0])
        return out

    def _load_dictionary(self) -> bool:
        """The finished prefix dictionary from the cache (one ``marshal.loads`` instead of jieba
        reading its own cache and then adding the domain words one by one); False if absent."""
        data = cache.read(_DICT_CACHE.format(key=self.fingerprint()))
        if data is None:
            return False
        try:
            freq, total, tags, forced = marshal.loads(data)
            if not isinstance(freq, dict) or not isinstance(total, int) or not isinstance(tags, dict):
                raise ValueError("not a prefix dictionary")
        except Exception:
            cache.forget(_DICT_CACHE.format(key=self.fingerprint()))
            return False
        j = self._jieba
        j.FREQ, j.total, j.user_word_tag_tab, j.initialized = freq, total, tags, True
        for word in forced:
            jieba.finalseg.add_force_split(word)
        return True

    def fingerprint(self) -> str:
        """What segmentation depends on: the vocabulary files, jieba's version, this module."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            files = ("base_dict.txt", "userdict.txt", "synonyms.tsv", "stopwords.txt")
            cached = cache.digest([jieba.__version__, cache.source_version("text", "segment"),
                                   *((self.vocab_dir / f).read_bytes() if (self.vocab_dir / f).exists() else b"-"
                                     for f in files)])
            self._fingerprint = cached
        return cached

    def words(self, text: str) -> list[str]:
        """Segment, normalise synonyms, drop stopwords and punctuation.

        The word and character views both start from these words, so the last few results
        are memoised: one jieba pass per query, not two.
        """
        return list(self._words_cached(text))

    def words_many(self, texts) -> list[list[str]]:
        """``words`` of each text, segmenting each distinct block only once (for fitting a base
        whose items repeat titles, conditions and amount texts). jieba cuts a text block by
        block (runs of the characters of its ``re_han_default``, and what lies between them)
        and keeps no state from one block to the next, so this gives the very same words."""
        memo: dict[str, tuple[str, ...]] = {}
        out = []
        for text in texts:
            words: list[str] = []
            for block in jieba.re_han_default.split(normalize(text)):
                if block:
                    hit = memo.get(block)
                    if hit is None:
                        hit = memo[block] = self._segment_normalized(block)
                    words.extend(hit)
            out.append(words)
        return out

    def query_words(self, plans: str, others: list[str],
                    phrases: dict[str, tuple[str, ...]] | None = None) -> tuple[list[str], frozenset[str]]:
        """``words("\\n".join([plans, *others]))`` and ``whole_words(plans)`` from one jieba
        pass over the plans: search mode is precise mode plus the sub-words jieba's
        ``cut_for_search`` adds (the same rule, replicated in ``_search_words``), and jieba
        segments text separated by a line break independently — so each of ``others`` can be
        segmented on its own, or taken from ``phrases`` (``phrase_words`` of a closed vocabulary,
        fitted once) when it is one of them."""
        words: list[str] = []
        whole: set[str] = set()
        for token in self._precise.lcut(normalize(plans)) if plans else ():
            search, as_whole = self._token_words(token)
            words.extend(search)
            whole.update(as_whole)
        for part in others:
            known = phrases.get(part) if phrases is not None else None
            words.extend(known if known is not None else self._words_cached(part))
        return words, frozenset(whole)

    def phrase_words(self, phrases) -> dict[str, tuple[str, ...]]:
        """``words`` of each of a fixed set of texts (sector labels, qualification names…), for
        ``query_words`` to look up rather than segment on every query."""
        return {text: tuple(self.words(text)) for text in dict.fromkeys(phrases)}

    @lru_cache(maxsize=1 << 16)  # noqa: B019 — one tokenizer per process; tokens are a bounded vocabulary
    def _token_words(self, raw: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What one precise-mode token contributes: its search-mode words, cleaned (its
        dictionary sub-words, ``_search_words``, then itself), and its whole words (itself with
        synonyms applied, and as written)."""
        search = tuple(w for t in self._search_words([raw]) if (w := self._clean_token(t)[0]) is not None)
        return search, tuple(w for w in self._clean_token(raw) if w is not None)

    @lru_cache(maxsize=1 << 16)  # noqa: B019 — one tokenizer per process; tokens are a bounded vocabulary
    def _clean_token(self, raw: str) -> tuple[str | None, str | None]:
        """``_clean`` of one token: (the word with synonyms applied, the word as written), None
        where it is dropped."""
        syn = self._clean((raw,))
        plain = self._clean((raw,), synonyms=False)
        return (syn[0] if syn else None, plain[0] if plain else None)

    def _search_words(self, precise: list[str]) -> list[str]:
        """jieba's ``cut_for_search`` from the precise-mode words: before each word, its 2- and
        3-character sub-words that are in the dictionary."""
        freq = self._jieba.FREQ
        out: list[str] = []
        for w in precise:
            n = len(w)
            if n > 2:
                out.extend(g for i in range(n - 1) if freq.get(g := w[i:i + 2]))
            if n > 3:
                out.extend(g for i in range(n - 2) if freq.get(g := w[i:i + 3]))
            out.append(w)
        return out

    def whole_words(self, text: str) -> frozenset[str]:
        """The words of ``text`` as whole words (jieba's precise mode, no sub-words): "辅导备案"
        stays one word and does not also yield "辅导". Each word both as written and as its
        synonym's canonical term ("机器人" is also "智能化")."""
        return self._whole_cached(text)

    def _whole(self, text: str) -> frozenset[str]:
        raw = self._precise.lcut(normalize(text))
        return frozenset(self._clean(raw)) | frozenset(self._clean(raw, synonyms=False))

    def _segment(self, text: str) -> tuple[str, ...]:
        return self._segment_normalized(normalize(text))

    def _segment_normalized(self, text: str) -> tuple[str, ...]:
        return tuple(self._clean(self._search_words(self._precise.lcut(text))))  # jieba's cut_for_search

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
