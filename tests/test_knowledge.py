"""The knowledge base: every catalog record loads, and every kind of broken file is named."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
import yaml

from policy_match.knowledge import load_directory

from .conftest import CONTRACT_POLICY_IDS, POLICIES, ROOT, run_cli

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
    assert {p.policy_id for p in kb.policies} >= CONTRACT_POLICY_IDS


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


# --- validity data checks (small records written here) ------------------------------------

URL = "http://zs.gov.cn/gxj/zcwj/gfxwj/content/post_1.html"
TODAY = date(2026, 12, 1)


def _record(policy_id: str = "zs-check", validity: dict | None = None, period: dict | None = None, **extra) -> dict:
    return {
        "policy_id": policy_id, "title": "校验用政策", "issuer": "中山市人民政府", "issued": "2022",
        "validity": validity if validity is not None else {"note": "有效期未公开"},
        "department": "中山市工业和信息化局", "package_2022_02_15": "no", "level": "city",
        "sources": [URL], "summary": "用于校验有效期数据的政策记录。",
        "items": [{"item_id": f"{policy_id}/1", "number": "1", "title": "事项", "description": "用于校验的支持事项说明。",
                   "support_type": "奖励", "amount": {"kind": "non_monetary", "text": "非资金支持"},
                   "confidence": "primary", "sources": [URL], "period": period or {}}],
        **extra,
    }


def _validity_lines(tmp_path: Path, *records: dict) -> list[str]:
    for data in records:
        _dump(tmp_path / f"{data['policy_id']}.yaml", data)
    return [p.line() for p in load_directory(tmp_path, check_catalog=False, today=TODAY).problems]


def test_clean_validity_data_has_no_problem(tmp_path):
    assert _validity_lines(tmp_path, _record()) == []


def test_window_outside_the_validity_is_named(tmp_path):
    validity = {"from": "2024-04-16", "to": "2024-05-27", "windows": [{"to": "2024-03-01"}, {"from": "2024-06-10"}]}
    lines = _validity_lines(tmp_path, _record(validity=validity))
    assert lines == [
        "zs-check.yaml: validity.windows[0]: 申报窗口截止于 2024-03-01，早于本有效期的起始日 2024-04-16",
        "zs-check.yaml: validity.windows[1]: 申报窗口始于 2024-06-10，晚于本有效期的截止日 2024-05-27",
    ]
    # an item's window is also held against its record's validity
    lines = _validity_lines(tmp_path, _record(validity={"to": "2025-12-31"}, period={"windows": [{"from": "2026-03-01"}]}))
    assert lines == ["zs-check.yaml: items[zs-check/1].period.windows[0]: 申报窗口始于 2026-03-01，晚于政策有效期的截止日 2025-12-31"]


def test_implausible_call_years_are_named(tmp_path):
    [future] = _validity_lines(tmp_path, _record(validity={"note": "按年申报", "intakes": [2027]}))
    assert future.startswith("zs-check.yaml: validity.intakes: 申报年份 2027 在今天（2026-12-01）之后")
    [typo] = _validity_lines(tmp_path, _record(period={"intakes": [1999]}))
    assert typo == "zs-check.yaml: items[zs-check/1].period.intakes: 申报年份 1999 与发布年份 2022 相差超过20年，疑为笔误"
    [late] = _validity_lines(tmp_path, _record(validity={"to": "2023-12-31", "intakes": [2025]}))
    assert late == "zs-check.yaml: validity.intakes: 申报年份 2025 晚于有效期截止 2023-12-31 一年以上"


def test_future_evidence_and_ended_with_future_end(tmp_path):
    evidence = [{"date": "2027-01-05", "text": "发布申报通知", "source": URL}]
    lines = _validity_lines(tmp_path, _record(validity={"note": "x", "evidence": evidence}))
    assert lines == ["zs-check.yaml: validity.evidence[0].date: 证据日期 2027-01-05 在今天（2026-12-01）之后"]
    lines = _validity_lines(tmp_path, _record(validity={"ended": True, "note": "已停止", "to": "2027-06-30"}))
    assert lines == ["zs-check.yaml: validity.ended: 标为已结束（ended: true），但截止日 2027-06-30 还未到"]


def test_successor_must_be_in_the_base(tmp_path):
    lines = _validity_lines(tmp_path, _record(validity={"superseded_by": "zs-nowhere"}))
    assert lines == ["zs-check.yaml: validity.superseded_by: 政策编号 'zs-nowhere' 不在政策库中"]
    lines = _validity_lines(tmp_path, _record(validity={"superseded_by": "中府〔2099〕1号"}))
    assert lines == ["zs-check.yaml: validity.superseded_by: '中府〔2099〕1号' 既不是政策编号，也不是政策库中任何记录的文号"]
    # by id or by the 文号 of a record that is in the base: fine
    successor = _record("zs-successor", doc_number="中府〔2023〕98号")
    assert _validity_lines(tmp_path, _record(validity={"superseded_by": "zs-successor"}), successor) == []
    assert _validity_lines(tmp_path, _record(validity={"superseded_by": "中府〔2023〕98号"}), successor) == []


def test_unknown_today_needs_something_to_confirm(tmp_path):
    [line] = _validity_lines(tmp_path, _record(validity={}))
    assert line.startswith("zs-check.yaml: validity: 今天（2026-12-01）有效期待确认，但没有 note、confirm 或 evidence")
    # a record over or in force today needs no confirm
    assert _validity_lines(tmp_path, _record(validity={"to": "2024-12-31"})) == []
    assert _validity_lines(tmp_path, _record(validity={"confirm": "今年是否仍受理申报"})) == []


def test_contact_of_another_department_is_named(tmp_path):
    contact = {"department": "中山市工业和信息化局", "people": "黄文波", "phone": "88315243", "source": "中工信函〔2022〕47号"}
    data = _record(contact=contact)
    data["department"] = "中山市人力资源和社会保障局"
    [line] = _validity_lines(tmp_path, data)
    assert line.startswith("zs-check.yaml: contact: 联系人属于中山市工业和信息化局，与所列主管部门（中山市人力资源和社会保障局）不符")
    data["department"] = "中山市人工智能产业办公室；中山市工业和信息化局"  # one of the listed departments: fine
    assert _validity_lines(tmp_path, data) == []
