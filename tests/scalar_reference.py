"""The scalar path the columnar engine replaced, kept as the reference of the parity test.

Each item's verdict, amount and ranking features for one profile, condition by condition in
plain Python through ``rules.py`` and ``amounts.py`` — what ``Matcher._item_verdict`` computed
before the engine. Delete together with the parity test once nobody needs the comparison.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from policy_match import advice
from policy_match.amounts import evaluate_amount
from policy_match.fields import LIST_VOCABULARIES, LISTING_STAGES, PROFILE_FIELDS, SECTORS, TOWNS
from policy_match.matcher import (
    _applicant_results,
    confirmation_feature,
    evidence_feature,
    firm_text_score,
    fixed_score,
    money_feature,
    relevance_feature,
)
from policy_match.profile import Profile
from policy_match.rules import MET, combine, evaluate_condition


@dataclass(frozen=True)
class ScalarItem:
    status: str
    verdicts: tuple[str, ...]
    high: float | None
    low: float
    from_inputs: bool
    confirmation: float
    evidence: float
    specific_met: int
    fixed_score: float
    money: float
    near_miss: bool
    in_scope: bool
    applicant: int  # code of the applicant conditions' verdicts (min), -1 without one
    pointing_met: int  # advice: met conditions on facts that say something about this firm
    cap_fallback: bool  # the high is the cap standing in for a base the profile cannot carry

    def score(self, relevance_raw: float) -> float:
        return self.fixed_score + firm_text_score(relevance_feature(relevance_raw), self.evidence, self.money)


def scalar_item(conditions, item, profile: Profile) -> ScalarItem:
    results = [evaluate_condition(c, profile) for c in conditions]
    results.extend(_applicant_results(item))
    status = combine([r.verdict for r in results])
    amount = evaluate_amount(item.amount, profile, eligible=status == "eligible")
    potential = (amount.high or 0.0) if amount else 0.0
    evidence = evidence_feature(results)
    specific = sum(1 for r in results if r.verdict == MET and r.fields and advice.can_point_to_firm(r.condition))
    return ScalarItem(
        status=status,
        verdicts=tuple(r.verdict for r in results),
        high=amount.high if amount is not None else None,
        low=amount.low if amount is not None else 0.0,
        from_inputs=amount.from_inputs if amount is not None else False,
        confirmation=confirmation_feature(results),
        evidence=evidence,
        specific_met=specific,
        fixed_score=fixed_score(status, confirmation_feature(results), evidence),
        money=money_feature(potential) if status != "ineligible" else 0.0,
        near_miss=_near_miss(status, potential, results),
        in_scope=all(r.verdict == MET for r in results if r.condition.clause == "适用范围"),
        applicant=min((CODES[r.verdict] for r in results if r.condition.kind == "applicant"), default=-1),
        cap_fallback=amount.cap_fallback if amount is not None else False,
        pointing_met=sum(1 for r in results if r.verdict == MET and r.condition.rule is not None
                         and advice.can_point_to_firm(r.condition)
                         and advice.met_on_specific_facts(r.condition.rule, profile)),
    )


def _near_miss(status: str, potential: float, results) -> bool:
    """Ruled out by one or two conditions, none the applicant type or a town record's scope."""
    unmet = [r for r in results if r.verdict == "unmet"]
    return (status == "ineligible" and potential > 0 and 1 <= len(unmet) <= 2
            and not any(r.condition.clause in {"申报主体", "适用范围"} for r in unmet))


CODES = {"unmet": 0, "unknown": 1, "met": 2}


def _thresholds(kb) -> dict[str, list[float]]:
    """Every number a rule or an amount of the base compares a field with."""
    out: dict[str, list[float]] = {}

    def walk(rule):
        if rule is None:
            return
        if rule.field is not None:
            values = rule.value if isinstance(rule.value, list) else [rule.value]
            out.setdefault(rule.field, []).extend(v for v in values if isinstance(v, (int, float)))
        for c in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else []):
            walk(c)

    for p in kb.policies:
        for it in p.items:
            for c in it.conditions:
                walk(c.rule)
            for u in it.amount.upgrades:
                walk(u.when)
            f = it.amount.formula
            if f is not None and f.type == "step" and f.base:
                out.setdefault(f.base, []).append(f.threshold)
            if f is not None and f.type == "bands" and f.base:
                out.setdefault(f.base, []).extend(b for band in f.bands for b in (band.min, band.max) if b is not None)
    return out


def random_profiles(kb, n: int, seed: int = 20261201) -> list[Profile]:
    """Seeded random firms over every profile field: unknowns, exact thresholds, values just
    either side of them, and values far off; plans drawn from the base's own keywords."""
    rng = random.Random(seed)
    thresholds = _thresholds(kb)
    words = sorted({k for p in kb.policies for it in p.items for k in it.keywords})
    out = []
    for _ in range(n):
        data = {}
        for name, info in PROFILE_FIELDS.items():
            if rng.random() < 0.3:
                continue  # unknown
            if info.kind == "bool":
                data[name] = rng.random() < 0.5
            elif info.kind in {"int", "float"}:
                lo = info.minimum if info.minimum is not None else 0
                hi = min(info.maximum if info.maximum is not None else 1e5, 1e6)
                pool = thresholds.get(name, [])
                r = rng.random()
                if pool and r < 0.6:
                    t = rng.choice(pool)
                    v = t + rng.choice([0, 0, -1, 1, -0.01, 0.01, -t * 0.3, t * 0.3])
                else:
                    v = rng.uniform(lo, hi) if rng.random() < 0.5 else rng.uniform(lo, min(hi, 5000))
                v = min(max(v, lo), hi)
                data[name] = int(round(v)) if info.kind == "int" else round(v, rng.choice([0, 1, 2]))
            elif name == "town":
                data[name] = rng.choice(TOWNS)
            elif name == "sector":
                data[name] = rng.choice(list(SECTORS))
            elif name == "listing_stage":
                data[name] = rng.choice(list(LISTING_STAGES))
            elif name in LIST_VOCABULARIES:
                vocab = LIST_VOCABULARIES[name]
                data[name] = rng.sample(vocab, rng.choice([0, 1, 1, 2, 3]))
            elif name == "plans":
                data[name] = "，".join(rng.sample(words, rng.randint(1, 6))) if words else "数字化"
            elif name == "industry":
                data[name] = rng.choice(["灯饰照明制造", "跨境电商", "软件开发", "五金制品", "餐饮"])
            elif name == "credit_code":
                continue
            else:
                data[name] = f"企业{rng.randint(1, 10**6)}"
        if data.get("digital_level") is not None:
            data["digital_level"] = min(4, max(1, int(data["digital_level"])))
        out.append(Profile(**data))
    return out


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))
