"""TF-IDF relevance index over support items (scikit-learn estimator conventions).

Two views of each item, combined:
- jieba words (domain dictionary, synonyms, stopwords) — precise where segmentation is right;
- character 1–2-grams of the synonym-normalised text — recovers what segmentation misses
  (规上 vs 规模以上, 扩产 vs 产能) on short clauses.

``fit(documents)`` learns the vocabularies and weights with scikit-learn's ``TfidfVectorizer``
and returns self; learned state lives in attributes ending in ``_``, as plain numpy arrays and
dicts. Queries are then transformed and scored by a few small pure functions over that state —
the same vectors as ``TfidfVectorizer.transform`` and the same cosine sums, bit for bit
(``tests/test_index.py``) — so the match path imports neither scikit-learn nor scipy, and a
fitted index can be saved and loaded (``fitted_index`` keeps one in the on-disk cache).
"""

from __future__ import annotations

import io
import json
import math
import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import cache
from .schema import PolicyRecord, SupportItem
from .text import ChineseTokenizer, default_tokenizer

WORD_WEIGHT = 0.6  # share of the word view in the combined score; the rest is characters
DENSE_MIN_DOCS = 2000  # bases from this size keep their most common terms as dense rows ...
DENSE_SHARE = 8        # ... those in at least 1/8 of the documents
MATCHED_TERMS = 6
_WHITE_SPACES = re.compile(r"\s\s+")  # as scikit-learn's character analyzer normalises
_INDEX_FILE = "relevance-{key}.npz"


def item_document(policy: PolicyRecord, item: SupportItem) -> str:
    """The text an item is indexed by. Titles and keywords are repeated: they are what a
    firm's plans name, and repetition is how TF-IDF is told that."""
    parts = [
        policy.short_title or "", policy.title,
        item.title, item.title,
        item.description,
        " ".join(item.keywords), " ".join(item.keywords),
        " ".join(c.text for c in item.conditions),
        item.amount.text,
    ]
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class QueryVector:
    """A query's L2-normalised TF-IDF row: column indices (ascending) and weights."""

    indices: np.ndarray
    data: np.ndarray


_EMPTY = QueryVector(np.zeros(0, dtype=np.int64), np.zeros(0))


def char_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """Character n-grams exactly as scikit-learn's ``analyzer="char"`` yields them."""
    text = _WHITE_SPACES.sub(" ", text)
    low, high = ngram_range
    grams: list[str] = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(text) + 1)):
        if n == 2:
            grams.extend(map(operator.add, text, text[1:]))
        else:
            grams.extend(text[i:i + n] for i in range(len(text) - n + 1))
    return grams


def tfidf_vector(terms: Sequence[str], vocabulary: dict[str, int], idf: np.ndarray) -> QueryVector:
    """``TfidfVectorizer(sublinear_tf=True, norm="l2").transform`` of one analysed document:
    counts over the fitted vocabulary, 1 + log(count), × idf, divided by the row's L2 norm —
    with the same operations in the same order, hence the same floats."""
    ids = Counter(map(vocabulary.get, terms))  # C loops: look up every term, count the columns
    ids.pop(None, None)
    if not ids:
        return _EMPTY
    cols = np.fromiter(ids.keys(), dtype=np.int64, count=len(ids))
    order = np.argsort(cols)
    indices = cols[order]
    data = np.fromiter(ids.values(), dtype=np.float64, count=len(ids))[order]
    np.log(data, data)
    data += 1.0
    data *= idf[indices]
    # the squares summed left to right (accumulate is sequential), as scikit-learn's row normalisation does
    norm = float(np.add.accumulate(data * data)[-1])
    if norm != 0.0:
        data /= math.sqrt(norm)
    return QueryVector(indices, data)


@dataclass(frozen=True)
class TermMatrix:
    """Documents by term (term-major CSR), plus the most common terms' rows stored dense."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_docs: int
    dense_row: np.ndarray  # term → row of ``dense``, -1 when the term is kept sparse
    dense: np.ndarray      # (n_dense_terms, n_docs), zeros where a document lacks the term

    @classmethod
    def build(cls, csr: tuple[np.ndarray, np.ndarray, np.ndarray], n_docs: int) -> TermMatrix:
        indptr, indices, data = csr
        df = np.diff(indptr)
        # A term in a large share of a large base is cheaper to add as one dense row than as
        # scattered postings (same sums: the zeros add nothing).
        frequent = np.flatnonzero(df * DENSE_SHARE >= n_docs) if n_docs >= DENSE_MIN_DOCS else np.zeros(0, np.int64)
        dense_row = np.full(len(df), -1, dtype=np.int64)
        dense_row[frequent] = np.arange(len(frequent))
        dense = np.zeros((len(frequent), n_docs))
        for r, t in enumerate(frequent.tolist()):
            dense[r, indices[indptr[t]:indptr[t + 1]]] = data[indptr[t]:indptr[t + 1]]
        return cls(indptr, indices, data, n_docs, dense_row, dense)

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.indptr, self.indices, self.data


def _postings(m: TermMatrix, cols: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(documents, query weight × document weight) of the terms ``cols``, term by term."""
    starts = m.indptr[cols]
    lengths = m.indptr[cols + 1] - starts
    total = int(lengths.sum())
    offsets = np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return m.indices[offsets], np.repeat(weights, lengths) * m.data[offsets]


def cosine_scores(query: QueryVector, m: TermMatrix) -> np.ndarray:
    """Dot products of a query with every document.

    Each document's sum adds the query's terms in ascending column order, starting from 0, as
    scipy's sparse product does, so the scores are the same floats as ``query @ matrix.T``:
    one ``bincount`` over the terms' postings, or — when common terms are stored dense — the
    terms in order, dense rows added whole and runs of sparse terms with ``np.add.at``."""
    cols, weights = query.indices, query.data
    if len(cols) == 0:
        return np.zeros(m.n_docs)
    rows = m.dense_row[cols]
    if not len(m.dense) or (rows < 0).all():
        docs, products = _postings(m, cols, weights)
        return np.bincount(docs, weights=products, minlength=m.n_docs)
    acc = np.zeros(m.n_docs)
    is_dense = rows >= 0
    breaks = np.flatnonzero(np.diff(is_dense.astype(np.int8))) + 1
    for lo, hi in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(cols)].tolist(), strict=True):
        if is_dense[lo]:
            for r, w in zip(rows[lo:hi].tolist(), weights[lo:hi].tolist(), strict=True):
                acc += w * m.dense[r]
        else:
            docs, products = _postings(m, cols[lo:hi], weights[lo:hi])
            np.add.at(acc, docs, products)
    return acc


def combine_scores(word: np.ndarray, char: np.ndarray, word_weight: float = WORD_WEIGHT) -> np.ndarray:
    return word_weight * word + (1.0 - word_weight) * char


def _given_words(words: list[str]) -> list[str]:
    """Analyzer for text already segmented by :class:`ChineseTokenizer`."""
    return words


def _csr(matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = matrix.tocsr()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float64)


class RelevanceIndex:
    """Rank documents against a free-text query with word + character TF-IDF."""

    def __init__(self, tokenizer: ChineseTokenizer | None = None, *, word_weight: float = WORD_WEIGHT,
                 char_ngram_range: tuple[int, int] = (1, 2)):
        self.tokenizer = tokenizer
        self.word_weight = word_weight
        self.char_ngram_range = char_ngram_range

    def fit(self, documents: Sequence[str], ids: Sequence[str] | None = None) -> RelevanceIndex:
        from sklearn.feature_extraction.text import TfidfVectorizer  # fitting only: not on the match path

        tok = self.tokenizer or default_tokenizer()
        self.tokenizer_ = tok
        # Both views start from the same jieba words, so segment each text once and hand the
        # vectorizers the words (word view) and their concatenation (character view).
        self.word_vectorizer_ = TfidfVectorizer(analyzer=_given_words, sublinear_tf=True, norm="l2")
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char", ngram_range=self.char_ngram_range, lowercase=False, sublinear_tf=True, norm="l2",
        )
        words = tok.words_many(documents)
        word_matrix = self.word_vectorizer_.fit_transform(words)
        char_matrix = self.char_vectorizer_.fit_transform(["".join(w) for w in words])
        self._set_state(
            ids=list(ids) if ids is not None else [str(i) for i in range(len(documents))],
            word_terms=[str(w) for w in self.word_vectorizer_.get_feature_names_out()],
            char_terms=[str(w) for w in self.char_vectorizer_.get_feature_names_out()],
            word_idf=self.word_vectorizer_.idf_.astype(np.float64),
            char_idf=self.char_vectorizer_.idf_.astype(np.float64),
            word_docs=_csr(word_matrix), word_terms_major=_csr(word_matrix.T), char_terms_major=_csr(char_matrix.T),
        )
        return self

    def _set_state(self, *, ids, word_terms, char_terms, word_idf, char_idf, word_docs, word_terms_major,
                   char_terms_major) -> None:
        self.ids_ = ids
        self.n_docs_ = len(ids)
        self.vocabulary_list_ = word_terms
        self.word_vocabulary_ = {t: i for i, t in enumerate(word_terms)}
        self.char_terms_ = char_terms
        self.char_vocabulary_ = {t: i for i, t in enumerate(char_terms)}
        self.word_idf_, self.char_idf_ = word_idf, char_idf
        self.word_docs_ = word_docs            # document-major (CSR): a document's words
        self.word_terms_ = TermMatrix.build(word_terms_major, len(ids))   # term-major: a word's documents
        self.char_terms_major_ = TermMatrix.build(char_terms_major, len(ids))

    # -- compatibility views (scipy, imported on demand) ------------------------------------
    @property
    def vocabulary_(self) -> np.ndarray:
        return np.asarray(self.vocabulary_list_, dtype=object)

    @property
    def word_matrix_(self):
        from scipy import sparse

        indptr, indices, data = self.word_docs_
        return sparse.csr_matrix((data, indices, indptr), shape=(self.n_docs_, len(self.vocabulary_list_)))

    # -- queries ----------------------------------------------------------------------------
    def transform_words(self, words: Sequence[str]) -> tuple[QueryVector, QueryVector]:
        """The word and character vectors of an already segmented text."""
        return (tfidf_vector(words, self.word_vocabulary_, self.word_idf_),
                tfidf_vector(char_ngrams("".join(words), self.char_ngram_range), self.char_vocabulary_,
                             self.char_idf_))

    def transform_query(self, query: str) -> tuple[QueryVector, QueryVector]:
        return self.transform_words(self.tokenizer_.words(query))

    def score_vectors(self, word: QueryVector, char: QueryVector) -> np.ndarray:
        return combine_scores(cosine_scores(word, self.word_terms_), cosine_scores(char, self.char_terms_major_),
                              self.word_weight)

    def score(self, query: str | tuple[QueryVector, QueryVector]) -> np.ndarray:
        """Relevance of every document to ``query`` (text, or its ``transform_query``), in [0, 1]."""
        if isinstance(query, str):
            if not query.strip():
                return np.zeros(self.n_docs_)
            query = self.transform_query(query)
        return self.score_vectors(*query)

    def score_many(self, queries: Sequence[str]) -> tuple[np.ndarray, list[QueryVector]]:
        """Relevance of every document to each query (rows), and the queries' word vectors."""
        return self.score_words([self.tokenizer_.words(q) for q in queries])

    def score_words(self, queries: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[QueryVector]]:
        """``score_many`` of already segmented queries."""
        out = np.empty((len(queries), self.n_docs_))
        word_vectors = []
        for i, words in enumerate(queries):
            word, char = self.transform_words(words)
            out[i] = self.score_vectors(word, char)
            word_vectors.append(word)
        return out, word_vectors

    def matched_terms(self, query_words: QueryVector, rows: Sequence[int] | np.ndarray | None = None,
                      k: int = MATCHED_TERMS) -> dict[int, list[str]]:
        """For each document of ``rows`` (default: all) that shares words with the query: those
        words, strongest first (query weight × document weight; ties: the later vocabulary
        column first). One numpy pass over the documents' words, whatever their number."""
        indptr, indices, data = self.word_docs_
        q_cols = query_words.indices
        if len(q_cols) == 0:
            return {}
        rows = np.arange(self.n_docs_) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return {}
        starts = indptr[rows]
        lengths = indptr[rows + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return {}
        offsets = np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        cols = indices[offsets]
        pos = np.minimum(np.searchsorted(q_cols, cols), len(q_cols) - 1)
        shared = q_cols[pos] == cols
        if not shared.any():
            return {}
        doc = np.repeat(rows, lengths)[shared]
        cols = cols[shared]
        strength = query_words.data[pos[shared]] * data[offsets][shared]
        order = np.lexsort((-cols, -strength, doc))
        doc, cols = doc[order], cols[order]
        firsts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        ends = np.r_[firsts[1:], len(doc)]
        vocab, col_list = self.vocabulary_list_, cols.tolist()
        return {int(doc[s]): [vocab[c] for c in col_list[s:min(e, s + k)]]
                for s, e in zip(firsts.tolist(), ends.tolist(), strict=True)}

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        scores = self.score(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids_[i], float(scores[i])) for i in order if scores[i] > 0]

    # -- persistence ------------------------------------------------------------------------
    def save(self, f) -> None:
        """Write the fitted state (numpy arrays and a JSON header; no pickle) to a binary file."""
        meta = {"ids": self.ids_, "word_terms": self.vocabulary_list_, "char_terms": self.char_terms_,
                "word_weight": self.word_weight, "char_ngram_range": list(self.char_ngram_range)}
        arrays = {"meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                  "word_idf": self.word_idf_, "char_idf": self.char_idf_}
        for name, (indptr, indices, data) in (("word_docs", self.word_docs_), ("word_terms", self.word_terms_.csr()),
                                              ("char_terms", self.char_terms_major_.csr())):
            arrays[f"{name}_indptr"], arrays[f"{name}_indices"], arrays[f"{name}_data"] = indptr, indices, data
        np.savez(f, **arrays)

    @classmethod
    def load(cls, data: bytes, tokenizer: ChineseTokenizer | None = None) -> RelevanceIndex:
        """An index from the bytes ``save`` wrote (raises on anything malformed)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            parts = {name: (z[f"{name}_indptr"], z[f"{name}_indices"], z[f"{name}_data"])
                     for name in ("word_docs", "word_terms", "char_terms")}
            word_idf, char_idf = z["word_idf"], z["char_idf"]
        index = cls(tokenizer, word_weight=meta["word_weight"], char_ngram_range=tuple(meta["char_ngram_range"]))
        index.tokenizer_ = tokenizer or default_tokenizer()
        n_docs, n_words, n_chars = len(meta["ids"]), len(meta["word_terms"]), len(meta["char_terms"])
        _check(parts["word_docs"], n_docs, n_words)
        _check(parts["word_terms"], n_words, n_docs)
        _check(parts["char_terms"], n_chars, n_docs)
        if word_idf.shape != (n_words,) or char_idf.shape != (n_chars,):
            raise ValueError("idf arrays do not match the vocabularies")
        index._set_state(ids=meta["ids"], word_terms=meta["word_terms"], char_terms=meta["char_terms"],
                         word_idf=word_idf, char_idf=char_idf, word_docs=parts["word_docs"],
                         word_terms_major=parts["word_terms"], char_terms_major=parts["char_terms"])
        return index


def _check(csr: tuple[np.ndarray, np.ndarray, np.ndarray], n_rows: int, n_cols: int) -> None:
    indptr, indices, data = csr
    if indptr.shape != (n_rows + 1,) or indptr[0] != 0 or indptr[-1] != len(indices) or len(indices) != len(data) \
            or np.any(np.diff(indptr) < 0) or (len(indices) and (indices.min() < 0 or indices.max() >= n_cols)):
        raise ValueError("malformed sparse matrix in the cached index")


def index_key(documents: Sequence[str], ids: Sequence[str], tokenizer: ChineseTokenizer,
              word_weight: float = WORD_WEIGHT, char_ngram_range: tuple[int, int] = (1, 2)) -> str:
    """What a fitted index depends on: the documents and ids (i.e. the policy data), the
    vocabulary files, our code and the scikit-learn major.minor that fitted it."""
    try:
        from importlib.metadata import version

        sklearn_version = ".".join(version("scikit-learn").split(".")[:2])
    except Exception:  # not installed: the key still changes with everything else
        sklearn_version = "?"
    return cache.digest([
        cache.source_version("index", "text", "segment"), sklearn_version, tokenizer.fingerprint(),
        json.dumps([word_weight, list(char_ngram_range)]), *ids, "\x00", *documents,
    ])


def fitted_index(documents: Sequence[str], ids: Sequence[str], tokenizer: ChineseTokenizer | None = None,
                 ) -> RelevanceIndex:
    """The index of these documents: from the on-disk cache when an entry built from the very
    same inputs exists, else fitted here (and cached for the next process)."""
    tok = tokenizer or default_tokenizer()
    name = _INDEX_FILE.format(key=index_key(documents, ids, tok))
    data = cache.read(name)
    if data is not None:
        try:
            index = RelevanceIndex.load(data, tok)
            if index.ids_ == list(ids):
                return index
        except Exception:  # corrupt or foreign: rebuild it
            pass
        cache.forget(name)
    index = RelevanceIndex(tok).fit(documents, ids)
    cache.write(name, index.save)
    return index
