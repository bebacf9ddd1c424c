"""Compare the matcher of another commit with this tree's, output by output (whole JSON).

    PYTHONPATH=$PWD python benchmarks/compare_matchers.py COMMIT [--random 500]

The package of COMMIT is extracted with ``git archive`` into a temporary directory as a package of
another name and fitted on the same data; both match the evaluation firms and seeded random firms
(``tests/scalar_reference.random_profiles``) at three settings (a date in force; an old date with
expired policies kept; another date with ``top=5``) and every ``to_dict()`` is compared. Prints the
number of differences and the first few diffs. Used to check that the columnar engine gives the
scalar path's answers exactly.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (("2026-11-27", False, None), ("2023-06-01", True, None), ("2025-03-01", False, 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit")
    parser.add_argument("--random", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("POLICY_MATCH_DATA", str(ROOT / "data"))
    archive = subprocess.run(["git", "archive", args.commit, "policy_match"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        (Path(tmp) / "policy_match").rename(Path(tmp) / "policy_match_other")
        sys.path[:0] = [tmp, str(ROOT)]
        import policy_match_other.knowledge as other_knowledge
        import policy_match_other.matcher as other

        from policy_match.knowledge import bundled_knowledge_base
        from policy_match.matcher import Matcher
        from tests.scalar_reference import random_profiles

        kb = bundled_knowledge_base()
        theirs = other.Matcher().fit(other_knowledge.bundled_knowledge_base())
        ours = Matcher().fit(kb)
        profiles = [c["profile"] for name in ("eval_profiles.json", "holdout_profiles.json")
                    for c in json.loads((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))]
        profiles += [p.model_dump(exclude_none=True) for p in random_profiles(kb, args.random, seed=5)]
        differences = 0
        for k, profile in enumerate(profiles):
            for as_of, include_expired, top in SETTINGS:
                kwargs = {"as_of": as_of, "include_expired": include_expired}
                if top is not None:
                    kwargs["top"] = top
                a = theirs.match(profile, **kwargs).to_dict()
                b = ours.match(profile, **kwargs).to_dict()
                if a != b:
                    differences += 1
                    if differences <= 3:
                        left = json.dumps(a, ensure_ascii=False, indent=1).splitlines()
                        right = json.dumps(b, ensure_ascii=False, indent=1).splitlines()
                        print(f"firm {k}, {kwargs}:")
                        print("\n".join(list(difflib.unified_diff(left, right, lineterm=""))[:40]))
        print(f"{len(profiles)} firms × {len(SETTINGS)} settings: {differences} differences")


if __name__ == "__main__":
    main()
