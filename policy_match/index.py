"""TF-IDF relevance index over support items (scikit-learn estimator conventions).

Two views of each item, combined:
- jieba words (domain dictionary, synonyms, stopwords) — precise where segmentation is right;
- character 1–2-grams of the synonym-normalised text — recovers what segmentation misses
  (规上 vs 规模以上, 扩产 vs 产能) on short clauses.

``fit(documents)`` returns self; learned state lives in attributes ending in ``_``; the
scoring itself is a few small pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from .schema import PolicyRecord, SupportItem
from .text import ChineseTokenizer, default_tokenizer

WORD_WEIGHT = 0.6
SMALL_POSTINGS = 2000  # below this many (word, document) pairs, matched terms are found in plain Python  # share of the word view in the combined score; the rest is characters


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


def cosine_scores(query: sparse.csr_matrix, matrix: sparse.csr_matrix) -> np.ndarray:
    """Cosine similarity of one L2-normalised query row against L2-normalised rows."""
    return np.asarray((matrix @ query.T).todense()).ravel()


def combine_scores(word: np.ndarray, char: np.ndarray, word_weight: float = WORD_WEIGHT) -> np.ndarray:
    return word_weight * word + (1.0 - word_weight) * char


def _given_words(words: list[str]) -> list[str]:
    """Analyzer for text already segmented by :class:`ChineseTokenizer`."""
    return words


class RelevanceIndex:
    """Rank documents against a free-text query with word + character TF-IDF."""

    def __init__(self, tokenizer: ChineseTokenizer | None = None, *, word_weight: float = WORD_WEIGHT,
                 char_ngram_range: tuple[int, int] = (1, 2)):
        self.tokenizer = tokenizer
        self.word_weight = word_weight
        self.char_ngram_range = char_ngram_range

    def fit(self, documents: Sequence[str], ids: Sequence[str] | None = None) -> RelevanceIndex:
        tok = self.tokenizer or default_tokenizer()
        self.tokenizer_ = tok
        # Both views start from the same jieba words, so segment each text once and hand the
        # vectorizers the words (word view) and their concatenation (character view).
        self.word_vectorizer_ = TfidfVectorizer(analyzer=_given_words, sublinear_tf=True, norm="l2")
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char", ngram_range=self.char_ngram_range, lowercase=False, sublinear_tf=True, norm="l2",
        )
        words = [tok.words(d) for d in documents]
        self.word_matrix_ = self.word_vectorizer_.fit_transform(words).tocsr()
        self.char_matrix_ = self.char_vectorizer_.fit_transform(["".join(w) for w in words]).tocsr()
        self.ids_ = list(ids) if ids is not None else [str(i) for i in range(len(documents))]
        self.vocabulary_ = self.word_vectorizer_.get_feature_names_out()
        self.word_matrix_csc_ = self.word_matrix_.tocsc()
        self.vocabulary_list_ = [str(w) for w in self.vocabulary_]
        # Transposed once here rather than on every query batch.
        self.word_matrix_t_ = self.word_matrix_.T.tocsr()
        self.char_matrix_t_ = self.char_matrix_.T.tocsr()
        return self

    def transform_query(self, query: str) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        words = self.tokenizer_.words(query)
        return (self.word_vectorizer_.transform([words]).tocsr(),
                self.char_vectorizer_.transform(["".join(words)]).tocsr())

    def score(self, query: str | tuple[sparse.csr_matrix, sparse.csr_matrix]) -> np.ndarray:
        """Relevance of every document to ``query`` (text, or its ``transform_query``), in [0, 1]."""
        if isinstance(query, str):
            if not query.strip():
                return np.zeros(self.word_matrix_.shape[0])
            query = self.transform_query(query)
        qw, qc = query
        return combine_scores(cosine_scores(qw, self.word_matrix_), cosine_scores(qc, self.char_matrix_),
                              self.word_weight)

    def score_many(self, queries: Sequence[str]) -> tuple[np.ndarray, sparse.csr_matrix]:
        """Relevance of every document to each query (rows), and the queries' word vectors."""
        words = [self.tokenizer_.words(q) for q in queries]
        qw = self.word_vectorizer_.transform(words).tocsr()
        qc = self.char_vectorizer_.transform(["".join(w) for w in words]).tocsr()
        scores = combine_scores((qw @ self.word_matrix_t_).toarray(), (qc @ self.char_matrix_t_).toarray(),
                                self.word_weight)
        return scores, qw

    def matched_terms(self, query_words: sparse.csr_matrix | tuple[np.ndarray, np.ndarray],
                      k: int = 6, max_docs: int | None = 500) -> dict[int, list[str]]:
        """For every document sharing words with the query (at most ``max_docs`` of them, the
        ones sharing the most): those words, strongest first.

        Slices only the query's columns of the column-major document matrix and orders all
        (document, word) pairs in one numpy sort, so the cost follows the number of pairs.
        """
        cols, weights = (query_words.indices, query_words.data) if sparse.issparse(query_words) else query_words
        if len(cols) == 0:
            return {}
        indptr = self.word_matrix_csc_.indptr
        if int((indptr[cols + 1] - indptr[cols]).sum()) <= SMALL_POSTINGS:
            return self._matched_terms_small(cols, weights, k)
        shared = self.word_matrix_csc_[:, cols].tocoo()
        if shared.nnz == 0:
            return {}
        strength = shared.data * np.asarray(weights)[shared.col]
        shared_row, shared_col = shared.row, shared.col
        if max_docs is not None:
            # On a large base, name the words only for the documents that share the most.
            per_doc = np.bincount(shared_row, weights=strength, minlength=self.word_matrix_.shape[0])
            if np.count_nonzero(per_doc) > max_docs:
                keep = np.zeros(per_doc.shape, dtype=bool)
                keep[np.argpartition(-per_doc, max_docs)[:max_docs]] = True
                mask = keep[shared_row]
                shared_row, shared_col, strength = shared_row[mask], shared_col[mask], strength[mask]
        order = np.lexsort((-strength, shared_row))  # by document, strongest word first
        rows, words = shared_row[order], np.asarray(cols)[shared_col[order]]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], len(rows)]
        vocab = self.vocabulary_list_
        words_list = words.tolist()
        return {int(rows[s]): [vocab[w] for w in words_list[s:min(e, s + k)]]
                for s, e in zip(starts.tolist(), ends.tolist(), strict=True)}

    def _matched_terms_small(self, cols: np.ndarray, weights: np.ndarray, k: int) -> dict[int, list[str]]:
        """The same as :meth:`matched_terms` in plain Python, faster when few pairs are involved
        (the bundled base): no sparse slicing overhead per query."""
        csc, vocab = self.word_matrix_csc_, self.vocabulary_list_
        found: dict[int, list[tuple[float, int]]] = {}
        for col, q in zip(cols.tolist(), weights.tolist(), strict=True):
            lo, hi = csc.indptr[col], csc.indptr[col + 1]
            for row, w in zip(csc.indices[lo:hi].tolist(), csc.data[lo:hi].tolist(), strict=True):
                found.setdefault(row, []).append((q * w, col))
        return {row: [vocab[c] for _, c in sorted(pairs, reverse=True)[:k]] for row, pairs in found.items()}

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        scores = self.score(query)
        order = np.argsort(-scores)[:k]
        return [(self.ids_[i], float(scores[i])) for i in order if scores[i] > 0]
