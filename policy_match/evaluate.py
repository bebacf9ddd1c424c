"""Evaluate the matcher against a labelled set, side by side with two text-only baselines.

    python -m policy_match.evaluate [CASES.json] [--json]

Metrics per system (averaged over cases):
- nDCG@5 of the policy ranking against graded relevance (2 central, 1 plausible, 0 otherwise);
- recall@5 of the grade-2 policies;
- hard negatives: for the matcher, how many labelled hard negatives it reports ``eligible``
  (must be 0); for every system, how many sit in the top 5;
- grade-2 policies the matcher reports ``ineligible`` (must be 0);
- amount checks: item ``low``/``high`` equal to the labelled value within 0.5万.

Baselines: (1) plain TF-IDF — jieba without the domain dictionary, cosine of the profile text
against each policy's text, the simplest reading of the design card; (2) BM25 (bm25s) over the
same tokens. Neither knows any rule, so neither has statuses or amounts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .knowledge import KnowledgeBase, bundled_knowledge_base
from .matcher import Matcher, default_matcher, parse_as_of, validity_at
from .profile import parse_profile
from .schema import PolicyRecord

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "eval_profiles.json"
K = 5
ADVICE_KEYS = ("recommended_per_case", "recommended_precision", "grade2_not_recommended", "hard_negatives_recommended",
               "money_share_unlabelled", "money_share_unlabelled_per_firm", "near_miss_fixed_field_changes")
# A near miss must never ask a firm to change these (contract §4).
FIXED_FOR_NEAR_MISSES = frozenset({"sector", "town", "registered_in_zhongshan"})


def dcg(gains: list[float]) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranking: list[str], relevance: dict[str, int], k: int = K) -> float:
    ideal = dcg(sorted(relevance.values(), reverse=True)[:k])
    if ideal == 0:
        return 1.0
    return dcg([relevance.get(pid, 0) for pid in ranking[:k]]) / ideal


def recall_at_k(ranking: list[str], relevance: dict[str, int], k: int = K, grade: int = 2) -> float | None:
    wanted = {pid for pid, g in relevance.items() if g >= grade}
    if not wanted:
        return None
    return len(wanted & set(ranking[:k])) / len(wanted)


def policy_text(policy: PolicyRecord) -> str:
    parts = [policy.title, policy.summary]
    for it in policy.items:
        parts += [it.title, it.description, " ".join(it.keywords)]
    return "\n".join(parts)


class PlainTfidfBaseline:
    """Policies ranked by TF-IDF cosine with the profile text; plain jieba, no domain data."""

    name = "plain TF-IDF"

    def fit(self, kb: KnowledgeBase) -> PlainTfidfBaseline:
        import jieba
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.tokenizer_ = jieba.Tokenizer()
        self.ids_ = [p.policy_id for p in kb.policies]
        self.policies_ = kb.policies
        self.vectorizer_ = TfidfVectorizer(tokenizer=self.tokenizer_.lcut, lowercase=False, token_pattern=None)
        self.matrix_ = self.vectorizer_.fit_transform([policy_text(p) for p in kb.policies])
        return self

    def scores(self, query: str) -> np.ndarray:
        q = self.vectorizer_.transform([query])
        return np.asarray((self.matrix_ @ q.T).todense()).ravel()


class BM25Baseline:
    """Policies ranked by BM25 (bm25s) over the same plain jieba tokens."""

    name = "BM25"

    def fit(self, kb: KnowledgeBase) -> BM25Baseline:
        import bm25s
        import jieba

        self.tokenizer_ = jieba.Tokenizer()
        self.ids_ = [p.policy_id for p in kb.policies]
        self.policies_ = kb.policies
        corpus = [self._tokens(policy_text(p)) for p in kb.policies]
        self.retriever_ = bm25s.BM25()
        self.retriever_.index(corpus, show_progress=False)
        return self

    def _tokens(self, text: str) -> list[str]:
        return [w for w in self.tokenizer_.lcut(text) if w.strip()]

    def scores(self, query: str) -> np.ndarray:
        tokens = self._tokens(query)
        if not tokens:
            return np.zeros(len(self.ids_))
        return np.asarray(self.retriever_.get_scores(tokens))


@dataclass
class CaseOutcome:
    case_id: str
    ranking: list[str]
    ndcg: float
    recall: float | None
    hard_negatives_in_top5: list[str]
    hard_negative_violations: list[str] = field(default_factory=list)  # reported eligible
    grade2_ineligible: list[str] = field(default_factory=list)
    amount_checks: int = 0
    amount_errors: list[str] = field(default_factory=list)
    # the advice layer (matcher only)
    recommended: list[str] = field(default_factory=list)
    recommended_relevant: int = 0
    grade2_not_recommended: list[str] = field(default_factory=list)
    hard_negatives_recommended: list[str] = field(default_factory=list)
    money_high: float = 0.0
    money_high_unlabelled: float = 0.0  # from policies the labels do not mark relevant
    near_miss_fixed_fields: list[str] = field(default_factory=list)  # asks to change sector/town/registration


def _in_force(kb: KnowledgeBase, as_of) -> set[str]:
    day = parse_as_of(as_of)
    return {p.policy_id for p in kb.policies if validity_at(p, day)[0] != "expired"}


def evaluate_baseline(system, cases: list[dict], kb: KnowledgeBase) -> list[CaseOutcome]:
    out = []
    for case in cases:
        profile = parse_profile(case["profile"]).profile
        scores = system.scores(Matcher.query_text(profile))
        live = _in_force(kb, case.get("as_of"))
        order = [system.ids_[i] for i in np.argsort(-scores, kind="stable") if system.ids_[i] in live]
        rel = case.get("relevance", {})
        hard = case.get("hard_negatives", {})
        out.append(CaseOutcome(case["id"], order, ndcg_at_k(order, rel), recall_at_k(order, rel),
                               [p for p in order[:K] if p in hard]))
    return out


def evaluate_matcher(matcher: Matcher, cases: list[dict]) -> list[CaseOutcome]:
    out = []
    for case in cases:
        result = matcher.match(case["profile"], as_of=case.get("as_of"))
        res = result.to_dict()["results"]
        order = [r["policy_id"] for r in res]
        status = {r["policy_id"]: r["status"] for r in res}
        rel = case.get("relevance", {})
        hard = case.get("hard_negatives", {})
        outcome = CaseOutcome(
            case["id"], order, ndcg_at_k(order, rel), recall_at_k(order, rel),
            [p for p in order[:K] if p in hard],
            hard_negative_violations=[p for p in hard if status.get(p) == "eligible"],
            grade2_ineligible=[p for p, g in rel.items() if g >= 2 and status.get(p) == "ineligible"],
        )
        fits = {r["policy_id"]: r["fit"] for r in res}
        outcome.recommended = [p for p in order if fits[p] == "recommended"]
        outcome.recommended_relevant = sum(rel.get(p, 0) >= 1 for p in outcome.recommended)
        outcome.grade2_not_recommended = [p for p, g in rel.items() if g >= 2 and fits.get(p) != "recommended"]
        outcome.hard_negatives_recommended = [p for p in hard if fits.get(p) == "recommended"]
        for policy in result.policies:
            for it in policy.items:
                if it.fit == "recommended" and it.counts_for_firm and it.amount is not None and it.amount.high is not None \
                        and not it.amount.cap_fallback:
                    outcome.money_high += it.amount.plausible_high
                    if rel.get(policy.policy_id, 0) < 1:
                        outcome.money_high_unlabelled += it.amount.plausible_high
        outcome.money_high = float(result.summary.money.high)
        outcome.near_miss_fixed_fields = [f"{n.item_id}:{c.field}" for n in result.near_misses for c in n.changes
                                          if c.field in FIXED_FOR_NEAR_MISSES]
        items = {it["item_id"]: it for r in res for it in r["items"]}
        for check in case.get("expected_amounts", []):
            outcome.amount_checks += 1
            it = items.get(check["item"])
            got = it["amount_wan"] if it else None
            ok = got is not None and all(
                abs(float(got[key]) - float(check[key])) <= 0.5 for key in ("low", "high") if key in check
            )
            if not ok:
                shown = None if got is None else {k: got[k] for k in ("low", "high")}
                outcome.amount_errors.append(f"{check['item']}: expected {({k: check[k] for k in ('low', 'high') if k in check})}, got {shown}")
        out.append(outcome)
    return out


def summarise(name: str, outcomes: list[CaseOutcome]) -> dict[str, Any]:
    recalls = [o.recall for o in outcomes if o.recall is not None]
    checks = sum(o.amount_checks for o in outcomes)
    errors = sum(len(o.amount_errors) for o in outcomes)
    n_rec = sum(len(o.recommended) for o in outcomes)
    money = sum(o.money_high for o in outcomes)
    advice = {
        "recommended_per_case": round(n_rec / len(outcomes), 2) if outcomes else None,
        "recommended_precision": round(sum(o.recommended_relevant for o in outcomes) / n_rec, 4) if n_rec else None,
        "grade2_not_recommended": sum(len(o.grade2_not_recommended) for o in outcomes),
        "hard_negatives_recommended": sum(len(o.hard_negatives_recommended) for o in outcomes),
        "money_share_unlabelled": round(sum(o.money_high_unlabelled for o in outcomes) / money, 4) if money else 0.0,
        # the same share firm by firm, averaged over the firms with money: one large award cannot dominate it
        "money_share_unlabelled_per_firm": round(float(np.mean(
            [o.money_high_unlabelled / o.money_high for o in outcomes if o.money_high > 0] or [0.0])), 4),
        "near_miss_fixed_field_changes": sum(len(o.near_miss_fixed_fields) for o in outcomes),
    }
    return {
        "system": name,
        "cases": len(outcomes),
        "ndcg@5": round(float(np.mean([o.ndcg for o in outcomes])), 4) if outcomes else None,
        "recall@5": round(float(np.mean(recalls)), 4) if recalls else None,
        "hard_negatives_in_top5": sum(len(o.hard_negatives_in_top5) for o in outcomes),
        "hard_negative_violations": sum(len(o.hard_negative_violations) for o in outcomes),
        "grade2_reported_ineligible": sum(len(o.grade2_ineligible) for o in outcomes),
        "amount_checks": checks,
        "amount_correct": checks - errors,
        **advice,
    }


def load_cases(path: Path | str = DEFAULT_CASES) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run(cases: list[dict], kb: KnowledgeBase | None = None, matcher: Matcher | None = None) -> dict[str, Any]:
    kb = kb or bundled_knowledge_base()
    matcher = matcher or default_matcher()
    ours = evaluate_matcher(matcher, cases)
    systems: list[tuple[str, list[CaseOutcome]]] = [("policy-match", ours)]
    for baseline in (PlainTfidfBaseline(), BM25Baseline()):
        systems.append((baseline.name, evaluate_baseline(baseline.fit(kb), cases, kb)))
    worst = sorted(ours, key=lambda o: (o.ndcg, -(len(o.amount_errors))))[:5]
    return {
        "summary": [summarise(name, outs) for name, outs in systems],
        "worst": [o.__dict__ for o in worst],
        "problems": [o.__dict__ for o in ours if o.hard_negative_violations or o.grade2_ineligible or o.amount_errors
                     or o.grade2_not_recommended or o.hard_negatives_recommended or o.near_miss_fixed_fields],
    }


def _print(report: dict[str, Any], write: Callable[[str], Any] = print) -> None:
    cols = ["system", "cases", "ndcg@5", "recall@5", "hard_negative_violations", "hard_negatives_in_top5",
            "grade2_reported_ineligible", "amount_correct", "amount_checks"]
    write(" | ".join(cols))
    for row in report["summary"]:
        write(" | ".join("—" if row[c] is None or (row["system"] != "policy-match" and c in
                                                    {"hard_negative_violations", "grade2_reported_ineligible",
                                                     "amount_correct", "amount_checks"}) else str(row[c]) for c in cols))
    ours = report["summary"][0]
    write("\nadvice (policy-match): " + " | ".join(f"{k} {ours[k]}" for k in ADVICE_KEYS))
    write("\nworst five cases (policy-match):")
    for o in report["worst"]:
        write(f"  {o['case_id']}: nDCG@5 {o['ndcg']:.3f}, top5 {o['ranking'][:5]}")
    for o in report["problems"]:
        for kind in ("hard_negative_violations", "grade2_ineligible", "amount_errors", "grade2_not_recommended",
                     "hard_negatives_recommended", "near_miss_fixed_fields"):
            for p in o[kind]:
                write(f"  ! {o['case_id']} {kind}: {p}")


README_BEGIN = "<!-- evaluation table: generated by `python -m policy_match.evaluate --readme README.md` -->"
README_END = "<!-- end of evaluation table -->"
SETS = (("development", DEFAULT_CASES), ("held-out", DEFAULT_CASES.with_name("holdout_profiles.json")))


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(reports: dict[str, dict[str, Any]]) -> str:
    """The README's evaluation tables from ``run`` reports keyed by set name."""
    lines = ["| set · system | nDCG@5 | recall@5 (grade 2) | hard negatives in top 5 | hard negatives reported eligible |"
             " grade-2 reported ineligible | amounts right |", "|---|---|---|---|---|---|---|"]
    for name, report in reports.items():
        for row in report["summary"]:
            ours = row["system"] == "policy-match"
            lines.append(f"| {name} · {row['system']} | {_cell(row['ndcg@5'])} | {_cell(row['recall@5'])} | "
                         f"{row['hard_negatives_in_top5']} | {row['hard_negative_violations'] if ours else '—'} | "
                         f"{row['grade2_reported_ineligible'] if ours else '—'} | "
                         + (f"{row['amount_correct']} / {row['amount_checks']} |" if ours else "— |"))
    lines += ["", "| set | recommended per firm | precision of `recommended` | grade-2 not recommended |"
              " hard negatives recommended | money from unlabelled policies (pooled / per firm) |"
              " near misses asking to change sector, town or registration |", "|---|---|---|---|---|---|---|"]
    for name, report in reports.items():
        row = report["summary"][0]
        lines.append(f"| {name} | {_cell(row['recommended_per_case'], 2)} | {_cell(row['recommended_precision'])} | "
                     f"{row['grade2_not_recommended']} | {row['hard_negatives_recommended']} | "
                     f"{row['money_share_unlabelled']:.0%} / {row['money_share_unlabelled_per_firm']:.0%} | "
                     f"{row['near_miss_fixed_field_changes']} |")
    return "\n".join(lines)


def readme_block(reports: dict[str, dict[str, Any]]) -> str:
    return f"{README_BEGIN}\n{markdown_table(reports)}\n{README_END}"


def update_readme(path: Path, reports: dict[str, dict[str, Any]]) -> bool:
    """Rewrite the generated block of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    new = text[:start] + readme_block(reports) + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policy_match.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", default=str(DEFAULT_CASES), help="labelled cases (JSON)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--readme", metavar="README.md",
                        help="run both bundled sets and rewrite the README's generated evaluation table")
    args = parser.parse_args(argv)
    if args.readme:
        reports = {name: run(load_cases(path)) for name, path in SETS}
        changed = update_readme(Path(args.readme), reports)
        print(("已更新 " if changed else "无变化 ") + args.readme)
        return 0
    try:
        cases = load_cases(args.cases)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"错误：无法读取评测集 {args.cases}：{exc}", file=sys.stderr)
        return 2
    report = run(cases)
    try:
        if args.json:
            print(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            _print(report)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
