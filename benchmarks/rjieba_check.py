"""Would rjieba (jieba-rs) segment our texts exactly as jieba does, and how much faster is it?

    pip install rjieba && PYTHONPATH=$PWD python benchmarks/rjieba_check.py

rjieba is given the very same prefix dictionary (jieba's trimmed base dictionary, the domain
words and the synonym variants, with their frequencies) through ``add_word``. Compared on every
item text of the bundled base and every evaluation firm's query text, with HMM on, in jieba's
search mode (what ``ChineseTokenizer`` uses) and default mode, raw and after our filters.
The project adopts rjieba only if every text segments identically.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    try:
        import rjieba
    except ImportError:
        print("rjieba is not installed (pip install rjieba)")
        return
    from policy_match.index import item_document
    from policy_match.matcher import Matcher, default_matcher
    from policy_match.profile import parse_profile
    from policy_match.text import normalize

    matcher = default_matcher()
    tok = matcher.index_.tokenizer_
    t = time.perf_counter()
    rj = rjieba.Jieba.empty()
    for word, freq in tok._jieba.FREQ.items():
        if freq > 0:
            rj.add_word(word, freq, None)
    load_s = time.perf_counter() - t
    texts = [normalize(item_document(p, it)) for p, it in matcher.pairs_]
    cases = [c for name in ("eval_profiles.json", "holdout_profiles.json")
             for c in json.loads((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))]
    queries = [normalize(Matcher.query_text(parse_profile(c["profile"]).profile)) for c in cases]
    texts += queries
    same_search = sum(tok._jieba.lcut_for_search(x, HMM=True) == rj.cut_for_search(x, True) for x in texts)
    same_cut = sum(tok._jieba.lcut(x, HMM=True) == rj.cut(x, True) for x in texts)
    first_diff = next(((a, b) for x in texts
                       if (a := tok._jieba.lcut_for_search(x, HMM=True)) != (b := rj.cut_for_search(x, True))), None)
    print(f"texts: {len(texts)} (80 item texts, {len(queries)} query texts)")
    print(f"identical search-mode segmentation: {same_search}/{len(texts)}; default mode: {same_cut}/{len(texts)}")
    if first_diff:
        a, b = first_diff
        only_a = [w for w in a if w not in b][:8]
        only_b = [w for w in b if w not in a][:8]
        print(f"first difference: jieba only {only_a}, rjieba only {only_b}")
    for name, cut in (("jieba", lambda s: tok._jieba.lcut_for_search(s, HMM=True)),
                      ("rjieba", lambda s: rj.cut_for_search(s, True))):
        t = time.perf_counter()
        for _ in range(20):
            for q in queries:
                cut(q)
        print(f"{name}: {(time.perf_counter() - t) / (20 * len(queries)) * 1e6:.0f} µs per query (search mode)")
    print(f"rjieba dictionary load through add_word: {load_s:.2f} s")
    print("adopt:", "yes" if same_search == len(texts) else "no — segmentation differs")


if __name__ == "__main__":
    main()
