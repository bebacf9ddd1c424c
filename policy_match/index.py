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

from .model import PolicyRecord, SupportItem
from .text import ChineseTokenizer, default_tokenizer

WORD_WEIGHT = 0.6  # share of the word view in the combined score; the rest is characters


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
        self.word_vectorizer_ = TfidfVectorizer(
            tokenizer=tok.words, lowercase=False, token_pattern=None, sublinear_tf=True, norm="l2"
        )
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char", ngram_range=self.char_ngram_range, lowercase=False, sublinear_tf=True, norm="l2",
            preprocessor=tok.canonical_text,
        )
        self.word_matrix_ = self.word_vectorizer_.fit_transform(documents).tocsr()
        self.char_matrix_ = self.char_vectorizer_.fit_transform(documents).tocsr()
        self.ids_ = list(ids) if ids is not None else [str(i) for i in range(len(documents))]
        self.vocabulary_ = self.word_vectorizer_.get_feature_names_out()
        return self

    def transform_query(self, query: str) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        return (self.word_vectorizer_.transform([query]).tocsr(),
                self.char_vectorizer_.transform([query]).tocsr())

    def score(self, query: str) -> np.ndarray:
        """Relevance of every document to ``query``, in [0, 1]; zeros for an empty query."""
        if not query or not query.strip():
            return np.zeros(self.word_matrix_.shape[0])
        qw, qc = self.transform_query(query)
        return combine_scores(cosine_scores(qw, self.word_matrix_), cosine_scores(qc, self.char_matrix_),
                              self.word_weight)

    def matched_terms(self, query_words: sparse.csr_matrix, row: int, k: int = 6) -> list[str]:
        """The query words that carry the match with document ``row``, strongest first."""
        doc = self.word_matrix_.getrow(row)
        shared = query_words.multiply(doc)
        if shared.nnz == 0:
            return []
        order = np.argsort(-shared.data)[:k]
        return [str(self.vocabulary_[shared.indices[i]]) for i in order]

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        scores = self.score(query)
        order = np.argsort(-scores)[:k]
        return [(self.ids_[i], float(scores[i])) for i in order if scores[i] > 0]
