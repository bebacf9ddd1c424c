"""The knowledge base: every catalog record loads, and every kind of broken file is named."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from policy_match.knowledge import load_directory

from .conftest import POLICIES, ROOT, run_cli

CATALOG = ROOT / "data" / "catalog.csv"


SHARED_CATALOG = ROOT.parent / "shared" / "contract" / "catalog.csv"
CONTRACT_RECORDS = 24  # rows of shared/contract/catalog.csv; the project's catalog holds more


def catalog_rows():
    with CATALOG.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def policy_file_count() -> int:
    return len(list(POLICIES.glob("*.yaml")))


def test_bundled_base_is_valid(kb):
    assert kb.problems == []
    # One record per catalog row: the contract's 24 and the policies found since.
    assert len(kb.policies) == len(catalog_rows()) == policy_file_count()
    assert len(kb.policies) > CONTRACT_RECORDS


def test_every_catalog_id_loads_and_agrees_with_catalog(kb):
    by_id = {p.policy_id: p for p in kb.policies}
    for row in catalog_rows():
        policy = by_id[row["policy_id"]]
        assert policy.title == row["title"]
        assert (policy.doc_number or "") == row["doc_number"]
        assert policy.issuer == row["issuer"]
        assert (policy.issued or "") == row["issued"]
        assert policy.package_2022_02_15 == row["package_2022_02_15"]
        assert policy.level == row["level"]
        assert policy.town_scope == [t for t in row["town_scope"].split(";") if t]


def test_items_carry_sources_and_confidence(kb):
    for _policy, item in kb.items():
        assert item.sources, item.item_id
        assert item.confidence in {"primary", "secondary", "partial"}
        if item.confidence == "partial":
            assert item.missing, item.item_id
        for cond in item.conditions:
            assert cond.source, (item.item_id, cond.text)
            if cond.rule is None:
                assert cond.check or cond.text, item.item_id


def test_catalog_keeps_the_contract_rows_unchanged_if_present():
    """The contract's header and rows come first, byte for byte; new records are appended after them."""
    if not SHARED_CATALOG.exists():
        pytest.skip("shared/contract not beside this checkout")
    shared = SHARED_CATALOG.read_text(encoding="utf-8")
    ours = CATALOG.read_text(encoding="utf-8")
    assert len(shared.splitlines()) == CONTRACT_RECORDS + 1
    assert ours.startswith(shared)
    assert len(ours.splitlines()) > len(shared.splitlines())


def test_catalog_ids_are_unique_and_contract_ids_stay():
    ids = [row["policy_id"] for row in catalog_rows()]
    assert len(ids) == len(set(ids))
    if SHARED_CATALOG.exists():
        with SHARED_CATALOG.open(encoding="utf-8") as fh:
            contract_ids = [row["policy_id"] for row in csv.DictReader(fh)]
        assert ids[:CONTRACT_RECORDS] == contract_ids


# --- broken files -------------------------------------------------------------------------

def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _problems(directory: Path) -> list[str]:
    return [p.line() for p in load_directory(directory, check_catalog=False).problems]


def test_malformed_yaml_names_file_and_line(policy_copy):
    bad = policy_copy / "zs-nantou-ecommerce.yaml"
    bad.write_text("policy_id: zs-nantou-ecommerce\ntitle: [unclosed\n", encoding="utf-8")
    kb = load_directory(policy_copy, check_catalog=False)
    assert len(kb.policies) == policy_file_count() - 1  # the others still load
    [line] = [p.line() for p in kb.problems]
    assert line.startswith("zs-nantou-ecommerce.yaml: line ")
    assert "malformed YAML" in line


def test_unknown_field_is_named(policy_copy):
    path = policy_copy / "zs-2024-sme-digital-pilot.yaml"
    data = _load(path)
    data["items"][0]["subsidy_rate"] = 0.3
    _dump(path, data)
    lines = _problems(policy_copy)
    assert lines == ["zs-2024-sme-digital-pilot.yaml: items[zs-2024-sme-digital-pilot/19.1].subsidy_rate: "
                     "unknown field (not in the schema; see README 'Policy data format')"]


def test_rule_over_field_the_profile_lacks(policy_copy):
    path = policy_copy / "zs-2024-sme-digital-pilot.yaml"
    data = _load(path)
    data["items"][0]["conditions"][0]["rule"] = {"field": "export_value_wan", "op": "ge", "value": 1}
    _dump(path, data)
    [line] = _problems(policy_copy)
    assert line.startswith("zs-2024-sme-digital-pilot.yaml: items[zs-2024-sme-digital-pilot/19.1].conditions[0].rule")
    assert "unknown profile field 'export_value_wan'" in line


def test_negative_cap(policy_copy):
    path = policy_copy / "zs-2022-digital-transformation.yaml"
    data = _load(path)
    item = next(i for i in data["items"] if i["number"] == "1.4")
    item["amount"]["cap_wan"] = -2000
    _dump(path, data)
    [line] = _problems(policy_copy)
    assert "items[zs-2022-digital-transformation/1.4].amount.cap_wan" in line
    assert "greater than or equal to 0" in line


def test_end_date_before_start(policy_copy):
    path = policy_copy / "zs-2024-sme-digital-pilot.yaml"
    data = _load(path)
    data["validity"]["from"], data["validity"]["to"] = "2026-12-31", "2024-11-20"
    _dump(path, data)
    [line] = _problems(policy_copy)
    assert line.startswith("zs-2024-sme-digital-pilot.yaml: validity:")
    assert "before start date" in line


def test_duplicate_policy_id(policy_copy):
    # Same id twice: a .yml beside the .yaml (file names must equal ids, so this is how it happens).
    src = policy_copy / "zs-nantou-ecommerce.yaml"
    (policy_copy / "zs-nantou-ecommerce.yml").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    kb = load_directory(policy_copy, check_catalog=False)
    assert [p.line() for p in kb.problems] == [
        "zs-nantou-ecommerce.yml: policy_id: duplicate id 'zs-nantou-ecommerce' (also in zs-nantou-ecommerce.yaml)"
    ]
    assert len(kb.policies) == policy_file_count()


def test_file_name_must_match_id(policy_copy):
    src = policy_copy / "zs-nantou-ecommerce.yaml"
    src.rename(policy_copy / "nantou.yaml")
    assert _problems(policy_copy) == ["nantou.yaml: policy_id: 'zs-nantou-ecommerce' does not match the file name"]


def test_missing_required_field_and_bad_date(policy_copy):
    path = policy_copy / "zs-2023-baizhan-qianqi.yaml"
    data = _load(path)
    del data["items"][0]["sources"]
    data["issued"] = "2023-13"
    _dump(path, data)
    lines = _problems(policy_copy)
    assert any("items[zs-2023-baizhan-qianqi/17.1].sources: required field is missing" in line for line in lines)
    assert any(line.startswith("zs-2023-baizhan-qianqi.yaml: issued:") and "not a real date" in line for line in lines)


def test_validate_command_on_bundled_and_broken_dirs(policy_copy):
    ok = run_cli("validate")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK")
    (policy_copy / "zs-2025-ai-plus.yaml").write_text("items: [\n", encoding="utf-8")
    bad = run_cli("validate", str(policy_copy))
    assert bad.returncode == 1
    assert "zs-2025-ai-plus.yaml: line" in bad.stdout
    assert "Traceback" not in bad.stderr
    missing = run_cli("validate", str(policy_copy / "nope"))
    assert missing.returncode == 1 and "no such directory" in missing.stdout


def test_policy_files_are_named_by_id():
    for path in POLICIES.glob("*.yaml"):
        assert _load(path)["policy_id"] == path.stem
