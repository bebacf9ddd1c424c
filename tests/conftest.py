from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "data" / "policies"
TEST_DATA = ROOT / "tests" / "data"
# The policy ids the contract guarantees (docs/contract.md §1). The base holds more
# records than these; tests check that these are present rather than a fixed count.
CONTRACT_POLICY_IDS = frozenset({
    "zs-2022-digital-transformation",
    "zs-2022-effective-investment",
    "zs-2022-cross-border-ecommerce",
    "zs-2022-industrial-park-renovation",
    "zs-2022-enterprise-listing",
    "zs-2022-land-supply-access",
    "zs-2022-manufacturing-investment-award",
    "zs-2022-tech-reform-fund",
    "zs-2022-small-firm-upscaling",
    "zs-service-entrepreneurship-mentors",
    "zs-service-management-training",
    "zs-service-public-tech-platforms",
    "zs-service-requests-mashangban",
    "zs-2023-leading-enterprises",
    "zs-2023-sme-industrial",
    "zs-2023-new-year-18",
    "zs-2023-baizhan-qianqi",
    "zs-2024-foreign-trade-fund",
    "zs-2024-sme-digital-pilot",
    "zs-2024-headquarters",
    "zs-2025-ai-plus",
    "gd-provincial-sme-support",
    "zs-cuiheng-2022-warm-enterprise",
    "zs-nantou-ecommerce",
})


@pytest.fixture(scope="session")
def kb():
    from policy_match.knowledge import bundled_knowledge_base

    return bundled_knowledge_base()


@pytest.fixture(scope="session")
def matcher():
    from policy_match.matcher import default_matcher

    return default_matcher()


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled policy directory."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None,
            env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point (as installed by pip). ``env`` sets (or, with ``None``,
    removes) environment variables for this run.

    The child always gets ``os.environ`` explicitly: GNU readline, once some plugin imports it,
    exports ``COLUMNS``/``LINES`` of pytest's terminal into the process environment behind
    ``os.environ``'s back, and the CLI lays its tables out at ``COLUMNS``."""
    import os

    exe = shutil.which("policy-match")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "policy_match", *args]
    run_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            run_env.pop(key, None)
        else:
            run_env[key] = value
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120,
                          encoding="utf-8", env=run_env)


@pytest.fixture(autouse=True, scope="session")
def _isolated_visit_db(tmp_path_factory):
    """No test writes the real var/visits.db: point the store at a throw-away file."""
    import os

    previous = os.environ.get("POLICY_MATCH_DB_URL")
    os.environ["POLICY_MATCH_DB_URL"] = f"sqlite:///{tmp_path_factory.mktemp('visits') / 'visits.db'}"
    yield
    if previous is None:
        os.environ.pop("POLICY_MATCH_DB_URL", None)
    else:
        os.environ["POLICY_MATCH_DB_URL"] = previous


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Fitted-state cache (policy_match.cache) in a throw-away directory, never the user's."""
    import os

    previous = os.environ.get("POLICY_MATCH_CACHE_DIR")
    os.environ["POLICY_MATCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("POLICY_MATCH_CACHE_DIR", None)
    else:
        os.environ["POLICY_MATCH_CACHE_DIR"] = previous
