"""The relevance index: its own TF-IDF transform and cosine sums against scikit-learn's, the
on-disk cache of a fitted index, and matched terms for every document."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from policy_match import cache
from policy_match.index import RelevanceIndex, char_ngrams, fitted_index, item_document
from policy_match.matcher import Matcher
from policy_match.text import default_tokenizer

from .conftest import ROOT, TEST_DATA


def documents(kb):
    pairs = kb.items()
    return [item_document(p, it) for p, it in pairs], [it.item_id for _, it in pairs]


def query_texts(kb) -> list[str]:
    cases = [c for name in ("eval_profiles.json", "holdout_profiles.json")
             for c in json.loads((TEST_DATA / name).read_text(encoding="utf-8"))]
    from policy_match.profile import parse_profile

    texts = [Matcher.query_text(parse_profile(c["profile"]).profile) for c in cases]
    texts += documents(kb)[0][:40]  # long texts full of vocabulary words
    texts += ["", "   ", "ＭＥＳ  系统\t上云", "abc  def", "数字化车间" * 50, "跨境电商 9610 独立站 亚马逊"]
    return texts


@pytest.fixture(scope="module")
def fitted(kb):
    docs, ids = documents(kb)
    return RelevanceIndex().fit(docs, ids)


def test_query_vectors_equal_scikit_learns(kb, fitted):
    tok = fitted.tokenizer_
    for text in query_texts(kb):
        words = tok.words(text)
        ours_w, ours_c = fitted.transform_words(words)
        theirs_w = fitted.word_vectorizer_.transform([words]).tocsr()
        theirs_c = fitted.char_vectorizer_.transform(["".join(words)]).tocsr()
        for ours, theirs in ((ours_w, theirs_w), (ours_c, theirs_c)):
            theirs.sort_indices()
            assert ours.indices.tolist() == theirs.indices.tolist(), text
            assert ours.data.tolist() == theirs.data.tolist(), text  # the same floats, not close ones


def test_char_ngrams_equal_scikit_learns(fitted):
    analyzer = fitted.char_vectorizer_.build_analyzer()
    for text in ["", "a", "数字化  车间", "a \t\n b", "规上工业企业", "x" * 5]:
        assert sorted(char_ngrams(text, (1, 2))) == sorted(analyzer(text))


@pytest.mark.parametrize("dense", [False, True])
def test_scores_equal_the_sparse_product(kb, fitted, monkeypatch, dense):
    if dense:  # common terms as dense rows, as on a large base
        import policy_match.index as index_module

        monkeypatch.setattr(index_module, "DENSE_MIN_DOCS", 10)
        monkeypatch.setattr(index_module, "DENSE_SHARE", 20)
        docs, ids = documents(kb)
        fitted = RelevanceIndex().fit(docs, ids)
        assert len(fitted.char_terms_major_.dense) and len(fitted.word_terms_.dense)
    word_t, char_t = fitted.word_matrix_.T.tocsr(), None
    from scipy import sparse

    indptr, indices, data = fitted.char_terms_major_.csr()
    char_t = sparse.csr_matrix((data, indices, indptr), shape=(len(fitted.char_terms_), fitted.n_docs_))
    tok = fitted.tokenizer_
    for text in query_texts(kb):
        words = tok.words(text)
        qw = fitted.word_vectorizer_.transform([words]).tocsr()
        qc = fitted.char_vectorizer_.transform(["".join(words)]).tocsr()
        expected = 0.6 * (qw @ word_t).toarray().ravel() + 0.4 * (qc @ char_t).toarray().ravel()
        assert fitted.score_vectors(*fitted.transform_words(words)).tolist() == expected.tolist(), text


def test_matched_terms_for_every_document_strongest_first(kb):
    """A base of 1,600 documents, most sharing the query's words: every document gets its terms
    (not only the 500 that share the most), ordered by strength, ties by the later column."""
    docs, ids = documents(kb)
    docs = [f"{d} 第{c}批" for c in range(20) for d in docs]
    index = RelevanceIndex().fit(docs, [f"{i}-{c}" for c in range(20) for i in ids])
    qw, _ = index.transform_query("建设数字化车间，购置数控机床，申请贷款贴息，制造业 高新技术企业")
    got = index.matched_terms(qw)
    indptr, indices, data = index.word_docs_
    weight = dict(zip(qw.indices.tolist(), qw.data.tolist(), strict=True))
    expected = {}
    for row in range(index.n_docs_):
        pairs = [(weight[c] * w, c) for c, w in zip(indices[indptr[row]:indptr[row + 1]].tolist(),
                                                     data[indptr[row]:indptr[row + 1]].tolist(), strict=True)
                 if c in weight]
        if pairs:
            expected[row] = [index.vocabulary_list_[c] for _, c in sorted(pairs, reverse=True)[:6]]
    assert len(expected) > 500
    assert got == expected
    last = max(expected)
    assert index.matched_terms(qw, [last]) == {last: expected[last]}


def test_fitted_index_is_cached_and_reused(kb, tmp_path, monkeypatch):
    monkeypatch.setenv("POLICY_MATCH_CACHE_DIR", str(tmp_path))
    docs, ids = documents(kb)
    first = fitted_index(docs, ids)
    assert hasattr(first, "word_vectorizer_")  # fitted here
    entries = list(tmp_path.glob("relevance-*.npz"))
    assert len(entries) == 1
    second = fitted_index(docs, ids)
    assert not hasattr(second, "word_vectorizer_")  # loaded
    for text in query_texts(kb)[:20]:
        assert second.score(text).tolist() == first.score(text).tolist()
    # other data, another entry; the first one stays valid
    fitted_index(docs[:-1], ids[:-1])
    assert len(list(tmp_path.glob("relevance-*.npz"))) == 2


@pytest.mark.parametrize("damage", [b"", b"not an npz at all", "truncate"])
def test_corrupt_cache_entry_is_ignored_and_rebuilt(kb, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("POLICY_MATCH_CACHE_DIR", str(tmp_path))
    docs, ids = documents(kb)
    good = fitted_index(docs, ids)
    (entry,) = tmp_path.glob("relevance-*.npz")
    entry.write_bytes(entry.read_bytes()[:200] if damage == "truncate" else damage)
    rebuilt = fitted_index(docs, ids)
    assert hasattr(rebuilt, "word_vectorizer_")
    assert rebuilt.score("数字化车间").tolist() == good.score("数字化车间").tolist()
    assert RelevanceIndex.load(entry.read_bytes()).ids_ == ids  # rewritten whole


def test_unwritable_cache_only_costs_the_fit(kb, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("POLICY_MATCH_CACHE_DIR", str(blocker / "sub"))  # cannot be created
    docs, ids = documents(kb)
    assert fitted_index(docs, ids).score("数字化").shape == (len(ids),)
    monkeypatch.setenv("POLICY_MATCH_CACHE_DIR", "off")
    assert cache.cache_dir() is None
    assert fitted_index(docs, ids).score("数字化").shape == (len(ids),)


def test_new_process_matches_without_scikit_learn_or_refit(tmp_path):
    """Cold start with a warm cache: the first match neither imports scikit-learn (nor scipy,
    pandas, pkg_resources) nor fits, and gives the same answer as a fitting process."""
    env = dict(os.environ, POLICY_MATCH_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    code = (
        "import sys, json; from policy_match import match; "
        "r = match({'sector': 'C', 'plans': '建设数字化车间，购置数控机床'}, as_of='2026-11-27').to_dict(); "
        "from policy_match.matcher import default_matcher; "
        "print(json.dumps({'fitted': hasattr(default_matcher().index_, 'word_vectorizer_'), "
        "'modules': sorted(m for m in ('sklearn', 'scipy', 'pandas', 'pkg_resources') if m in sys.modules), "
        "'result': r}, ensure_ascii=False))"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True, cwd=tmp_path).stdout) for _ in range(2)]
    assert runs[0]["fitted"] is True and "sklearn" in runs[0]["modules"]
    assert runs[1]["fitted"] is False and runs[1]["modules"] == []
    assert runs[1]["result"] == runs[0]["result"]


def test_cached_dictionary_segments_like_a_fresh_one(kb, tmp_path, monkeypatch):
    from policy_match.text import ChineseTokenizer

    monkeypatch.setenv("POLICY_MATCH_CACHE_DIR", str(tmp_path))
    built = ChineseTokenizer()
    assert list(tmp_path.glob("jieba-*.marshal"))
    loaded = ChineseTokenizer()
    assert loaded._jieba.FREQ == built._jieba.FREQ
    for text in query_texts(kb):
        assert loaded.words(text) == built.words(text) == default_tokenizer().words(text)


def test_search_orders_ties_stably(fitted):
    hits = fitted.search("数字化", k=5)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert np.all(fitted.score("") == 0)


def test_blockwise_segmentation_gives_the_same_words(kb):
    tok = default_tokenizer()
    texts = query_texts(kb) + documents(kb)[0] + ["Ａ股上市，IPO辅导；9610模式\n\n跨境电商B2B出口", "，，。", "　", "x-y_z.1%"]
    assert tok.words_many(texts) == [tok.words(t) for t in texts]


def test_one_pass_query_words_equal_both_modes(kb):
    """The firm's plans are segmented once for the search-mode words of the whole query and the
    whole words of the plans: the same as segmenting each on its own."""
    from policy_match.profile import parse_profile

    from .scalar_reference import random_profiles

    tok = default_tokenizer()
    cases = [c for name in ("eval_profiles.json", "holdout_profiles.json")
             for c in json.loads((TEST_DATA / name).read_text(encoding="utf-8"))]
    profiles = [parse_profile(c["profile"]).profile for c in cases] + random_profiles(kb, 200, seed=3)
    profiles.append(parse_profile({"plans": "上市辅导备案\n\n工业互联网平台；MES、ERP上云 9610\t跨境", "industry": "灯饰"}).profile)
    phrases = Matcher().fit(kb).query_phrases_
    for p in profiles:
        plans, others = Matcher.query_parts(p)
        expected = tok.words(Matcher.query_text(p))
        words, whole = tok.query_words(plans, others)
        assert words == expected
        assert whole == tok.whole_words(plans)
        # the closed-vocabulary parts from the fitted table give the very same words
        assert tok.query_words(plans, others, phrases) == (expected, whole)
        assert any(part in phrases for part in others) or not others or others == [p.industry]
