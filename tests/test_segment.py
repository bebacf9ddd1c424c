"""policy_match.segment.PreciseCut gives jieba's own precise-mode words (HMM on), whatever the text."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_match.index import item_document
from policy_match.matcher import Matcher
from policy_match.profile import parse_profile
from policy_match.segment import PreciseCut
from policy_match.text import default_tokenizer, normalize

from .conftest import TEST_DATA

TOKENIZER = default_tokenizer()
JIEBA = TOKENIZER._jieba  # the domain dictionary, as loaded (forced splits included)
CUT = PreciseCut(JIEBA)


def jieba_words(text: str) -> list[str]:
    return JIEBA.lcut(text, HMM=True)


def test_every_document_and_query(kb):
    docs = [normalize(item_document(p, it)) for p, it in kb.items()]
    cases = [c for name in ("eval_profiles.json", "holdout_profiles.json")
             for c in json.loads((TEST_DATA / name).read_text(encoding="utf-8"))]
    queries = [normalize(Matcher.query_text(parse_profile(c["profile"]).profile)) for c in cases]
    texts = docs + queries + [c.text for p in kb.policies for it in p.items for c in it.conditions]
    assert len(texts) > 300
    for text in texts:
        assert CUT.lcut(text) == jieba_words(text), text


def test_runs_the_hmm_and_ties_see():
    # unknown names (HMM), forced splits of the domain dictionary, digits, Latin, mixed punctuation
    for text in ["张小明在古镇开了灯饰厂", "中山市翠亨新区马鞍岛", "ERP上云9610模式B2B出口", "", "，。；", "a", "一",
                 "3.5%的贷款贴息", "高新技术企业认定\n\n专精特新“小巨人”", "　全角　空格", "x-y_z.1%", "国国国国国国"]:
        assert CUT.lcut(text) == jieba_words(text), text


def test_random_strings_of_dictionary_words():
    """Texts made of words of the dictionary, their prefixes and single characters, so that
    the walk meets long prefixes, equal-probability routes and HMM runs."""
    rng = random.Random(7)
    words = [w for w, f in JIEBA.FREQ.items() if f and len(w) > 1]
    chars = [w for w in JIEBA.FREQ if len(w) == 1]
    for _ in range(3000):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            w = rng.choice(words)
            parts.append(w if r < 0.5 else w[:-1] if r < 0.7 else rng.choice(chars) if r < 0.9 else rng.choice(" ,a1"))
        text = "".join(parts)
        assert CUT.lcut(text) == jieba_words(text), text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("中山市古镇灯饰照明企业数字化改造上市辅导的了和与及专精特新小巨人"
                                             "ABCxyz0123456789.%-_ ，。\n\t")), max_size=60))
def test_any_text(text):
    assert CUT.lcut(text) == jieba_words(text)


def test_a_plain_jieba_dictionary_too():
    """Not only our dictionary: jieba's own, on text it was not tuned for."""
    import jieba

    plain = jieba.Tokenizer()
    plain.initialize()
    cut = PreciseCut(plain)
    for text in ["我来到北京清华大学", "他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所，后在日本京都大学深造"]:
        assert cut.lcut(text) == plain.lcut(text, HMM=True)


def test_equal_routes_take_the_longer_first_word(tmp_path):
    """甲乙|丙 and 甲|乙丙 are equally probable here; jieba takes the route whose first word
    ends later (max over (probability, end)), and so must the cut."""
    import jieba

    dictionary = tmp_path / "dict.txt"
    dictionary.write_text("甲乙 10\n乙丙 10\n甲 10\n丙 10\n乙 3\n", encoding="utf-8")
    tiny = jieba.Tokenizer(str(dictionary))
    tiny.tmp_dir = str(tmp_path)
    tiny.initialize()
    assert tiny.lcut("甲乙丙", HMM=True) == ["甲乙", "丙"]
    assert PreciseCut(tiny).lcut("甲乙丙") == ["甲乙", "丙"]


def test_hmm_equals_jiebas_including_ties():
    """The HMM alone on runs of characters jieba's emission tables know for every state, for
    some states only, or not at all (then every path is -3.14e100 and ties decide)."""
    import jieba.finalseg

    from policy_match.segment import _hmm_cut, hmm_emissions

    emit = jieba.finalseg.emit_P
    known_somewhere = set().union(*emit.values())
    han = [chr(c) for c in range(0x4E00, 0x9FD6)]
    pools = [[c for c in han if all(c in d for d in emit.values())][:3000],
             [c for c in han if c in known_somewhere and not all(c in d for d in emit.values())][:3000],
             [c for c in han if c not in known_somewhere][:3000], list("ab1.%"),
             *([c for c in han if c in known_somewhere and c not in emit[state]][:3000] for state in "BMES")]
    rng = random.Random(11)
    emissions = hmm_emissions()
    for _ in range(4000):
        text = "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 9)))
        out: list[str] = []
        _hmm_cut(text, out, emissions)
        assert out == list(jieba.finalseg.cut(text)), text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("　\u3000\u00a0\u2028\t\n\r\x1c ＡＢｃ１２３，。ﬁ㎡①Å"))),
               max_size=40))
def test_normalize_is_nfkc_with_whitespace_collapsed(text):
    """The quick path (already NFKC, whitespace by str.split) equals NFKC, \\s+ → one space,
    strip, lower case."""
    import re
    import unicodedata

    assert normalize(text) == re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=40))
def test_any_unicode_at_all(text):
    """Emoji, control characters, lone surrogates, full-width forms, other scripts: the same words."""
    assert CUT.lcut(text) == jieba_words(text)
