"""Synthetic firms for the benchmarks: the evaluation and held-out profiles, cycled, with their
numbers jittered (seeded) and a firm number in the name and the plans, so that no two firms are
alike and no cache or memo sees the same firm twice."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JITTERED_FIELDS = ("annual_revenue_wan", "employees", "equipment_software_investment_wan",
                   "loan_interest_wan", "rd_expense_wan")


def evaluation_profiles() -> list[dict]:
    """The profiles of both labelled sets, in file order."""
    out = []
    for name in ("eval_profiles.json", "holdout_profiles.json"):
        out += [case["profile"] for case in json.loads((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))]
    return out


def jittered_firms(n: int, seed: int = 7, profiles: list[dict] | None = None) -> Iterator[dict]:
    """``n`` firms: each number of :data:`JITTERED_FIELDS` scaled by 0.6–1.4, "-i" after the name
    and "（第i家）" after the plans."""
    profiles = profiles or evaluation_profiles()
    rng = random.Random(seed)
    for i in range(n):
        p = dict(profiles[i % len(profiles)])
        for key in JITTERED_FIELDS:
            if isinstance(p.get(key), (int, float)) and not isinstance(p.get(key), bool):
                value = p[key] * rng.uniform(0.6, 1.4)
                p[key] = int(value) if key == "employees" else round(value, 1)
        p["name"] = f"{p.get('name', '企业')}-{i}"
        p["plans"] = f"{p.get('plans') or ''}（第{i}家）"
        yield p
