"""Match-level speed: warm matches against text-only baselines, scaling over the number of items,
cold start as a whole process. Figures only — nothing here asserts (targets are printed beside).

    python benchmarks/speed.py warm [--repeats 7]
    python benchmarks/speed.py scaling [--sizes 80,1000,10000,50000] [--firms 200]
    python benchmarks/speed.py cold [--repeats 7]
    python benchmarks/speed.py all [--json OUT.json]

- warm: `match()` p50/p95 on the bundled base (ranking; explanations are built when read), and with
  the explanations read (`match(top=10).to_dict()`, `match().to_dict()`), side by side with plain
  scikit-learn TF-IDF + cosine, bm25s and rank_bm25 over the same item texts and the same queries,
  in one process, in turns; then each system in a loop of its own over every query, the loops
  taking turns. Every query is new to every cache: the tokenizer's memo of whole texts is cleared
  before each of our calls; the baselines have none. What stays are fitted tables (the
  dictionary's log-probabilities, the closed-vocabulary query parts) and per-token tables, as a
  vocabulary does. Ratios are printed against plain TF-IDF + cosine.
- scaling: a synthetic base of N items (the bundled records copied with new ids, numeric thresholds
  and amounts scaled per copy, a copy number in the text), each size in a fresh process: fit time,
  peak memory, `match()` p50/p95 and `match(top=10).to_dict()` p50/p95 over unique firms.
- cold: a fresh interpreter from start to the first match's answer (`python -c ...`), wall time
  of the whole process, with a warm cache and with an empty one.

Each figure is the median over repeats (or over firms); p95 over all calls. On a shared host the
p95 moves with other load: compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from firms import evaluation_profiles, jittered_firms  # noqa: E402

TARGETS = {
    "warm_match_p50_ms": 0.6,
    "warm_match_own_loop_p50_ms": 0.6,
    "items_10000_match_p50_ms": 5.0,
    "items_10000_match_p95_ms": 15.0,
    "items_50000_match_p50_ms": 20.0,
    "items_50000_fit_s": 60.0,
    "items_50000_peak_rss_mb": 2048.0,
    "cold_warm_cache_s": 0.8,
}
AS_OF = "2026-11-27"


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.95))]


# -- warm, side by side ------------------------------------------------------------------------
class PlainTfidf:
    name = "plain TF-IDF + cosine (scikit-learn)"

    def __init__(self, docs):
        import jieba
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.tok = jieba.Tokenizer()
        self.vec = TfidfVectorizer(tokenizer=self.tok.lcut, lowercase=False, token_pattern=None)
        self.matrix_t = self.vec.fit_transform(docs).T.tocsr()

    def __call__(self, query: str):
        return (self.vec.transform([query]) @ self.matrix_t).toarray()[0]


class Bm25s:
    name = "bm25s"

    def __init__(self, docs):
        import bm25s
        import jieba

        self.tok = jieba.Tokenizer()
        self.retriever = bm25s.BM25()
        self.retriever.index([self._tokens(d) for d in docs], show_progress=False)

    def _tokens(self, text):
        return [w for w in self.tok.lcut(text) if w.strip()]

    def __call__(self, query: str):
        tokens = self._tokens(query)
        return self.retriever.get_scores(tokens) if tokens else None


class RankBm25:
    name = "rank_bm25"

    def __init__(self, docs):
        import jieba
        from rank_bm25 import BM25Okapi

        self.tok = jieba.Tokenizer()
        self.bm25 = BM25Okapi([self._tokens(d) for d in docs])

    def _tokens(self, text):
        return [w for w in self.tok.lcut(text) if w.strip()]

    def __call__(self, query: str):
        tokens = self._tokens(query)
        return self.bm25.get_scores(tokens) if tokens else None


def warm(repeats: int = 7) -> dict:
    from policy_match.index import item_document
    from policy_match.matcher import Matcher, default_matcher
    from policy_match.profile import parse_profile

    matcher = default_matcher()
    tok = matcher.index_.tokenizer_
    docs = [item_document(p, it) for p, it in matcher.pairs_]
    baselines = [PlainTfidf(docs), Bm25s(docs), RankBm25(docs)]
    profiles = evaluation_profiles()
    queries = [Matcher.query_text(parse_profile(p).profile) for p in profiles]
    for b in baselines:  # warm up: first calls build lazy state
        for q in queries[:5]:
            b(q)
    systems = {
        "policy-match match()": lambda i: matcher.match(profiles[i], as_of=AS_OF),
        "policy-match match(top=10).to_dict()": lambda i: matcher.match(profiles[i], as_of=AS_OF, top=10).to_dict(),
        "policy-match match().to_dict()": lambda i: matcher.match(profiles[i], as_of=AS_OF).to_dict(),
        **{b.name: (lambda i, b=b: b(queries[i])) for b in baselines},
    }
    times: dict[str, list[float]] = {name: [] for name in systems}
    cpu: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(repeats):
        for i in range(len(profiles)):
            for name, call in systems.items():  # in turns, so that host load hits all alike
                tok._words_cached.cache_clear()
                tok._whole_cached.cache_clear()
                t, c = time.perf_counter(), time.process_time()
                call(i)
                times[name].append((time.perf_counter() - t) * 1000)
                cpu[name].append((time.process_time() - c) * 1000)
    out = {}
    base_p50 = percentiles(times[baselines[0].name])[0]
    base_cpu = percentiles(cpu[baselines[0].name])[0]
    for name, ts in times.items():
        p50, p95 = percentiles(ts)
        c50 = percentiles(cpu[name])[0]
        out[name] = {"p50_ms": round(p50, 3), "p95_ms": round(p95, 3), "cpu_p50_ms": round(c50, 3),
                     "p50_vs_plain_tfidf": round(p50 / base_p50, 2), "cpu_vs_plain_tfidf": round(c50 / base_cpu, 2)}
    # Also each system in a loop of its own (what a server answering one firm after another
    # sees): the interleaved figures above include the caches the other systems evict. The
    # loops take turns, a pass over every query each, so that no system is always the first
    # after the interleaved run (or always the last) and a change of host load hits all alike.
    own: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(repeats):
        for name, call in systems.items():
            for i in range(len(profiles)):
                tok._words_cached.cache_clear()
                tok._whole_cached.cache_clear()
                t = time.perf_counter()
                call(i)
                own[name].append((time.perf_counter() - t) * 1000)
    own_base = percentiles(own[baselines[0].name])[0]
    for name, ts in own.items():
        p50 = percentiles(ts)[0]
        out[name]["own_loop_p50_ms"] = round(p50, 3)
        out[name]["own_loop_vs_plain_tfidf"] = round(p50 / own_base, 2)
    out["warm_match_p50_ms"] = out["policy-match match()"]["p50_ms"]
    out["warm_match_own_loop_p50_ms"] = out["policy-match match()"]["own_loop_p50_ms"]
    out["warm_load_average"] = os.getloadavg()[0]
    return out


# -- scaling -----------------------------------------------------------------------------------
def synthetic_base(n_items: int):
    """The bundled records copied until n_items, with new ids, the copy number in the texts and
    every numeric threshold and amount scaled by a per-copy factor (rules distinct per copy)."""
    from policy_match.knowledge import KnowledgeBase, bundled_knowledge_base

    base = bundled_knowledge_base()
    per_copy = sum(len(p.items) for p in base.policies)
    copies = -(-n_items // per_copy)

    def scale_rule(rule, f):
        if rule is None:
            return None
        update = {}
        if rule.field is not None and rule.field not in {"founded_year", "newly_above_scale_year", "digital_level"}:
            v = rule.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                update["value"] = round(v * f, 2)
            elif isinstance(v, list) and rule.op == "between" and all(isinstance(x, (int, float)) for x in v):
                update["value"] = [round(x * f, 2) for x in v]
        for key in ("all", "any"):
            kids = getattr(rule, key)
            if kids is not None:
                update[key] = [scale_rule(k, f) for k in kids]
        if rule.not_ is not None:
            update["not_"] = scale_rule(rule.not_, f)
        return rule.model_copy(update=update) if update else rule

    def scale_amount(a, f):
        if a.kind != "money":
            return a
        upd = {k: round(getattr(a, k) * f, 2) for k in ("cap_wan", "cap_total_wan") if getattr(a, k) is not None}
        return a.model_copy(update=upd)

    policies = []
    for c in range(copies):
        f = 1.0 if c == 0 else 0.5 + (c % 31) / 20
        for p in base.policies:
            pid = f"{p.policy_id}-copy{c}" if c else p.policy_id
            items = []
            for it in p.items:
                conds = [cond.model_copy(update={"rule": scale_rule(cond.rule, f)}) for cond in it.conditions]
                items.append(it.model_copy(update={
                    "item_id": f"{pid}/{it.number}", "conditions": conds, "amount": scale_amount(it.amount, f),
                    "description": f"{it.description} 第{c}批" if c else it.description}))
            policies.append(p.model_copy(update={"policy_id": pid, "items": items}))
            if sum(len(q.items) for q in policies) >= n_items:
                return KnowledgeBase(policies)
    return KnowledgeBase(policies)


def scaling_one(n_items: int, n_firms: int) -> dict:
    """One size, in this process (the driver runs each in a fresh one)."""
    from policy_match.matcher import Matcher

    t = time.perf_counter()
    kb = synthetic_base(n_items)
    build_s = time.perf_counter() - t
    items = sum(len(p.items) for p in kb.policies)
    t, c = time.perf_counter(), time.process_time()
    matcher = Matcher().fit(kb)
    fit_s, fit_cpu_s = time.perf_counter() - t, time.process_time() - c
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    firms = list(jittered_firms(n_firms))
    for p in firms[:5]:
        matcher.match(p, as_of=AS_OF)
    plain, shown, plain_cpu, shown_cpu = [], [], [], []
    for p in firms:
        t, c = time.perf_counter(), time.process_time()
        matcher.match(p, as_of=AS_OF)
        plain.append((time.perf_counter() - t) * 1000)
        plain_cpu.append((time.process_time() - c) * 1000)
        t, c = time.perf_counter(), time.process_time()
        matcher.match(p, as_of=AS_OF, top=10).to_dict()
        shown.append((time.perf_counter() - t) * 1000)
        shown_cpu.append((time.process_time() - c) * 1000)
    p50, p95 = percentiles(plain)
    s50, s95 = percentiles(shown)
    return {"items": items, "build_base_s": round(build_s, 1), "fit_s": round(fit_s, 2),
            "fit_cpu_s": round(fit_cpu_s, 2), "rss_after_fit_mb": round(rss_fit),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "match_p50_ms": round(p50, 2), "match_p95_ms": round(p95, 2),
            "match_cpu_p50_ms": round(percentiles(plain_cpu)[0], 2),
            "top10_explained_p50_ms": round(s50, 2), "top10_explained_p95_ms": round(s95, 2),
            "top10_explained_cpu_p50_ms": round(percentiles(shown_cpu)[0], 2),
            "load_average": os.getloadavg()[0]}


def scaling(sizes: list[int], n_firms: int) -> dict:
    out = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as cache_dir:  # every size fits from scratch
            env = dict(os.environ, POLICY_MATCH_CACHE_DIR=cache_dir)
            run = subprocess.run([sys.executable, __file__, "scaling-one", str(n), str(n_firms)],
                                 capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        row = json.loads(run.stdout.strip().splitlines()[-1])
        out[f"items_{n}"] = row
        for key in ("match_p50_ms", "match_p95_ms", "fit_s", "peak_rss_mb"):
            out[f"items_{n}_{key}"] = row[key]
        print(f"  {n:>6} items: {row}", file=sys.stderr)
    return out


# -- cold start --------------------------------------------------------------------------------
COLD = ("from policy_match import match; "
        "match({'sector': 'C', 'plans': '建设数字化车间，购置数控机床'}, as_of='2026-11-27')")


def cold(repeats: int = 7) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, POLICY_MATCH_CACHE_DIR=cache_dir)
        walls = {"cold_empty_cache_s": [], "cold_warm_cache_s": []}
        for _ in range(repeats):
            for f in Path(cache_dir).iterdir():
                f.unlink()
            for key in walls:  # empty cache first, then the one it left
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", COLD], check=True, cwd=ROOT, env=env)
                walls[key].append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        out["python_startup_s"] = round(time.perf_counter() - t, 3)
    for key, ts in walls.items():
        out[key] = round(statistics.median(ts), 3)
        out[key.replace("_s", "_min_s")] = round(min(ts), 3)
    return out


def report(results: dict) -> str:
    lines = []
    for key, value in results.items():
        if isinstance(value, dict):
            lines.append(f"{key:45s} " + "  ".join(f"{k} {v}" for k, v in value.items()))
            continue
        target = TARGETS.get(key)
        mark = "" if target is None else f"   target ≤ {target:<8} {'OK' if value <= target else 'MISS'}"
        lines.append(f"{key:45s} {value:>10}{mark}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "scaling-one":
        print(json.dumps(scaling_one(int(sys.argv[2]), int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["warm", "scaling", "cold", "all"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="80,1000,10000,50000")
    parser.add_argument("--firms", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if args.what in {"warm", "all"}:
        results.update(warm(args.repeats))
    if args.what in {"scaling", "all"}:
        results.update(scaling([int(s) for s in args.sizes.split(",")], args.firms))
    if args.what in {"cold", "all"}:
        results.update(cold(args.repeats))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
