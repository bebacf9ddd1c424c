"""Speed and memory benchmarks (targets from the matching-engine issue), sized for 2 cores.

    python benchmarks/bench.py [--quick] [--json OUT.json]

Measures, on this machine:
- cold start: a fresh interpreter importing the package, loading the data, fitting the index
  and matching one profile (in-process time, and the whole process's wall time);
- the CLI: wall time and peak memory (RSS) of `policy-match match PROFILE.json`;
- warm `match()` latency p50 / p95 over the evaluation profiles;
- batch throughput (profiles/s) of `run_batch` on synthetic firms, 1 process and all cores;
- warm `match()` on a synthetic base of ≥10,000 support items.

Targets are printed beside the figures; nothing here asserts (timings belong in benchmarks,
not in unit tests).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from firms import jittered_firms  # noqa: E402

TARGETS = {
    "cold_start_s": 2.5,
    "warm_p50_ms": 5.0,
    "warm_p95_ms": 20.0,
    "batch_profiles_per_s": 1000.0,
    "large_base_warm_ms": 50.0,
    "cli_peak_rss_mb": 300.0,
}

COLD_SNIPPET = (
    "import time; t=time.perf_counter(); from policy_match import match; "
    "match({'sector': 'C', 'plans': '建设数字化车间，购置数控机床'}); print(time.perf_counter()-t)"
)


def cold_start(repeats: int = 3) -> dict:
    inner, wall = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD_SNIPPET], capture_output=True, text=True, check=True, cwd=ROOT)
        wall.append(time.perf_counter() - t)
        inner.append(float(out.stdout.strip().splitlines()[-1]))
    return {"cold_start_s": round(statistics.median(inner), 3), "cold_start_process_wall_s": round(statistics.median(wall), 3)}


def cli_run(profile: dict) -> dict:
    exe = shutil.which("policy-match")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.json"
        path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
        cmd = [exe, "match", str(path)] if exe else [sys.executable, "-m", "policy_match", "match", str(path)]
        # Measure the child in a wrapper so RUSAGE_CHILDREN holds only this process.
        wrapper = (
            "import resource,subprocess,sys,time; t=time.perf_counter(); "
            f"subprocess.run({cmd!r}, stdout=subprocess.DEVNULL, check=True); "
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True)
    wall, rss_kb = out.stdout.split()
    return {"cli_wall_s": round(float(wall), 3), "cli_peak_rss_mb": round(int(rss_kb) / 1024, 1)}


def match_times_ms(matcher, profiles: list[dict], repeats: int, warm_up: int | None = None) -> tuple[float, float]:
    """(p50, p95) in ms of ``matcher.match`` over the profiles, after one warm-up pass."""
    for p in profiles[:warm_up]:
        matcher.match(p)
    times = []
    for _ in range(repeats):
        for p in profiles:
            t = time.perf_counter()
            matcher.match(p, as_of="2026-11-27")
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.95)]


def warm_latency(profiles: list[dict], repeats: int = 5) -> dict:
    from policy_match.matcher import default_matcher

    p50, p95 = match_times_ms(default_matcher(), profiles, repeats)
    return {"warm_p50_ms": round(p50, 2), "warm_p95_ms": round(p95, 2)}


def synthetic_rows(profiles: list[dict], n: int, seed: int = 7) -> list[tuple[int, dict]]:
    """Firms like the evaluation ones, with their numbers jittered so caches see new values."""
    return [(i + 2, p) for i, p in enumerate(jittered_firms(n, seed, profiles))]


def batch_throughput(profiles: list[dict], n: int) -> dict:
    from policy_match.io import BatchInput, run_batch
    from policy_match.matcher import default_matcher

    matcher = default_matcher()
    out = {}
    for label, workers in (("batch_1proc_profiles_per_s", 1), ("batch_profiles_per_s", None)):
        rows = synthetic_rows(profiles, n, seed=11 if workers == 1 else 13)
        t = time.perf_counter()
        run_batch(BatchInput(rows, {}, []), as_of="2026-11-27", matcher=matcher, workers=workers)
        out[label] = round(n / (time.perf_counter() - t), 1)
    return out


def large_base(profiles: list[dict], min_items: int = 10_000, repeats: int = 2) -> dict:
    """Copies of the bundled records (new ids, texts varied by a copy number) up to ≥10k items."""
    from policy_match.knowledge import KnowledgeBase, bundled_knowledge_base
    from policy_match.matcher import Matcher

    base = bundled_knowledge_base()
    per_copy = sum(len(p.items) for p in base.policies)
    copies = -(-min_items // per_copy)
    policies = []
    for c in range(copies):
        for p in base.policies:
            pid = f"{p.policy_id}-copy{c}"
            items = [it.model_copy(update={"item_id": f"{pid}/{it.number}",
                                           "description": f"{it.description} 第{c}批"}) for it in p.items]
            policies.append(p.model_copy(update={"policy_id": pid, "items": items}))
    kb = KnowledgeBase(policies)
    t = time.perf_counter()
    matcher = Matcher().fit(kb)
    fit_s = time.perf_counter() - t
    p50, p95 = match_times_ms(matcher, profiles, repeats, warm_up=5)
    return {"large_base_items": copies * per_copy, "large_base_fit_s": round(fit_s, 2),
            "large_base_warm_ms": round(p50, 1), "large_base_warm_p95_ms": round(p95, 1)}


def run_all(quick: bool = False) -> dict:
    from policy_match.evaluate import load_cases

    profiles = [c["profile"] for c in load_cases()]
    results: dict = {"python": sys.version.split()[0]}
    results.update(cold_start(2 if quick else 3))
    results.update(cli_run(profiles[0]))
    results.update(warm_latency(profiles, 2 if quick else 5))
    results.update(batch_throughput(profiles, 600 if quick else 3000))
    results.update(large_base(profiles[:10] if quick else profiles, repeats=1 if quick else 2))
    results["peak_rss_this_process_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return results


def report(results: dict) -> str:
    lines = []
    for key, value in results.items():
        target = TARGETS.get(key)
        if target is None:
            lines.append(f"{key:32s} {value}")
            continue
        higher_better = key.endswith("per_s")
        ok = value >= target if higher_better else value <= target
        lines.append(f"{key:32s} {value:>10}   target {'≥' if higher_better else '≤'} {target:<8} {'OK' if ok else 'MISS'}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller batches")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    results = run_all(args.quick)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
