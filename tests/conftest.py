from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "data" / "policies"
TEST_DATA = ROOT / "tests" / "data"


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


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point (as installed by pip)."""
    exe = shutil.which("policy-match")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "policy_match", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120,
                          encoding="utf-8")


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
