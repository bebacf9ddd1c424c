"""Hostile and careless inputs outside the batch pipeline (issue 10): numbers with units, numbers
no machine can hold, XML-invalid text in stored visits, policy files that escape validation and the
app's deployment defaults. Every hostile input is generated here, small."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from policy_match.fields import PROFILE_FIELDS
from policy_match.profile import ProfileError, parse_profile
from tests.conftest import run_cli

# -- 1. numbers with units ----------------------------------------------------------------


@pytest.mark.parametrize(("field", "raw", "expected", "converted"), [
    ("equipment_software_investment_wan", "3000元", 0.3, True),
    ("annual_revenue_wan", "5亿", 50000, True),
    ("annual_revenue_wan", "5亿元", 50000, True),
    ("annual_revenue_wan", "1,500万", 1500, False),
    ("annual_revenue_wan", "１，５００万元", 1500, False),  # full-width digits and comma
    ("annual_revenue_wan", "3千万", 3000, True),
    ("annual_revenue_wan", "1500", 1500, False),  # a bare number is in the field's unit
    ("annual_revenue_wan", "¥3000", 0.3, True),
    ("employees", "2万", 20000, True),
    ("employees", "2万人", 20000, True),
    ("employees", "120人", 120, False),
    ("loan_interest_wan", "50元", 0.005, True),
    ("cross_border_sales_usd_wan", "120万美元", 120, False),
    ("cross_border_sales_usd_wan", "80美元", 0.008, True),
    ("leased_area_m2", "5000平方米", 5000, False),
    ("leased_area_m2", "5000㎡", 5000, False),
    ("leased_area_m2", "５０００㎡", 5000, False),
    ("leased_area_m2", "5000平米", 5000, False),
    ("leased_area_m2", "0.5万平方米", 5000, True),
    ("revenue_growth_pct", "35%", 35, False),
    ("revenue_growth_pct", "－１２％", -12, False),
    ("founded_year", "2015年", 2015, False),
])
def test_a_unit_of_the_same_kind_is_converted(field, raw, expected, converted):
    parsed = parse_profile({field: raw})
    assert getattr(parsed.profile, field) == pytest.approx(expected, rel=1e-12)
    # a converted number says how it was read, in the field's own words
    notes = [w for w in parsed.warnings if w.startswith(f"{PROFILE_FIELDS[field].label}：“{raw}”按 ")]
    assert len(notes) == converted, parsed.warnings
    if converted:
        assert notes[0].endswith(f"{PROFILE_FIELDS[field].unit} 计")


def test_converted_amounts_reach_the_money():
    """3000元 of equipment is 0.3万, not 3000万: the 数字化改造 subsidy must not become 600万."""
    from policy_match import match

    profile = {"sector": "C", "above_scale": True, "plans": "上MES，建数字化车间",
               "equipment_software_investment_wan": "3000元"}
    typed_in_wan = match({**profile, "equipment_software_investment_wan": 0.3}).to_dict()
    typed_in_yuan = match(profile).to_dict()
    assert typed_in_yuan["results"] == typed_in_wan["results"]


@pytest.mark.parametrize(("field", "raw", "fragment"), [
    ("annual_revenue_wan", "2000万美元", "单位是万美元，本字段单位为万元，请换算后填写"),
    ("annual_revenue_wan", "$120万", "单位是万美元，本字段单位为万元"),
    ("cross_border_sales_usd_wan", "80万元", "单位是万元，本字段单位为万美元，请换算后填写"),
    ("annual_revenue_wan", "300人", "单位是人，本字段单位为万元"),
    ("employees", "300万元", "单位是万元，本字段单位为人"),
    ("leased_area_m2", "10亩", "单位是亩，本字段单位为㎡，请换算后填写"),
    ("revenue_growth_pct", "2万", "无法识别的单位“万”"),
    ("annual_revenue_wan", "50万元/年", "无法识别的单位“万元/年”"),
    ("annual_revenue_wan", "3000斤", "无法识别的单位“斤”"),
])
def test_a_unit_of_another_kind_is_rejected_naming_the_field(field, raw, fragment):
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": "测试企业", field: raw})
    [problem] = err.value.problems
    assert (problem.field, problem.value) == (field, raw)
    assert fragment in problem.message


@pytest.mark.parametrize(("field", "raw", "fragment"), [
    ("employees", 10 ** 5000, "数值过大"),  # float() raises OverflowError
    ("employees", -(10 ** 400), "数值过大"),
    ("annual_revenue_wan", 10 ** 400, "数值过大"),
    ("employees", "9" * 5000, "数值过大"),
    ("employees", "1e400", "数值过大"),
    ("annual_revenue_wan", "1e99999999999", "数值过大"),  # beyond Decimal's exponent
    ("employees", float("inf"), "数值过大"),
    ("employees", "NaN", "有限的数字"),
    ("annual_revenue_wan", "-Infinity", "有限的数字"),
], ids=["int-5000-digits", "int-minus-400-digits", "int-400-digits-money", "text-5000-digits", "text-1e400",
        "text-huge-exponent", "float-inf", "text-nan", "text-minus-infinity"])
def test_numbers_no_machine_holds_are_clean_field_problems(field, raw, fragment):
    with pytest.raises(ProfileError) as err:
        parse_profile({field: raw})
    [problem] = err.value.problems
    assert problem.field == field
    assert fragment in problem.message
    line = problem.line()  # must not fail turning a 5000-digit integer into text
    assert line.startswith(f"{PROFILE_FIELDS[field].label}（{field}） = ") and len(line) < 200


def test_text_fields_reject_structures():
    with pytest.raises(ProfileError) as err:
        parse_profile({"name": {"$ne": 1}, "plans": [["MES"]]})
    assert {p.field for p in err.value.problems} == {"name", "plans"}
    assert all(p.message == "应为文本" for p in err.value.problems)


@pytest.mark.parametrize(("content", "fragment"), [
    ('{"employees": 1e400}', "（employees） = “1e400”：数值过大"),
    ('{"employees": ' + "9" * 5000 + "}", "（employees） = “999"),
    ('{"employees": NaN, "name": "甲"}', "（employees） = “NaN”：应为有限的数字"),
    ('{"annual_revenue_wan": Infinity}', "（annual_revenue_wan） = “Infinity”"),
    ("[" * 100_000 + "]" * 100_000, "嵌套层数过深"),
    ('{"plans": ' + "[" * 100_000 + "]" * 100_000 + "}", "嵌套层数过深"),
], ids=["1e400", "5000-digits", "NaN", "Infinity", "100k-deep-array", "100k-deep-in-a-field"])
def test_hostile_profile_json_file_and_stdin(tmp_path, content, fragment):
    path = tmp_path / "profile.json"
    path.write_text(content, encoding="utf-8")
    for args, stdin in ((["match", str(path)], None), (["match", "-"], content)):
        proc = run_cli(*args, stdin=stdin)
        assert proc.returncode == 2, proc.stderr
        assert fragment in proc.stderr
        assert "内部错误" not in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr) < 1000


def test_oversized_profile_on_stdin_is_refused():
    proc = run_cli("match", "-", stdin='{"plans": "' + "扩" * (4 * 1024 * 1024) + '"}')
    assert proc.returncode == 2
    assert "标准输入: 文件过大" in proc.stderr


def test_units_through_the_cli_are_converted_and_said(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"employees": "2万", "annual_revenue_wan": "5亿"}, ensure_ascii=False), encoding="utf-8")
    proc = run_cli("match", str(path), "--as-of", "2026-12-01")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["results"]
    assert "提示：上年度营业收入：“5亿”按 50000万元 计" in proc.stderr
    assert "提示：从业人数：“2万”按 20000人 计" in proc.stderr


def test_unit_parser_never_crashes_on_odd_text():
    """Each of these is either a number in the field's unit or a ProfileError naming the field."""
    odd = ["", " ", "万", "元", "e5", "1e", "--1", "1..2", "１２３４５６７８９０", "1,,000", "¥", "$$1", "1万万万万元",
           "\u2212" + "5", "5\u00a0000", "١٢٣", "nan万", "0x10", "1_000", "  3000 元 ", "\x00", "3\x0b000"]
    for raw in odd:
        try:
            value = parse_profile({"annual_revenue_wan": raw}).profile.annual_revenue_wan
        except ProfileError as exc:
            assert exc.problems[0].field == "annual_revenue_wan"
        else:
            assert value is None or math.isfinite(value)


# -- 2. stored visits that must always open ------------------------------------------------

# What XML 1.0 cannot hold: Word's manual line break and page break, other C0 controls, a lone
# surrogate (from a JSON "\ud800" escape or a browser), the non-characters U+FFFE / U+FFFF.
XML_INVALID = ["\x0b", "\x0c", "\x00", "\x01", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]


def _docx_text(data: bytes) -> str:
    import io

    from docx import Document

    doc = Document(io.BytesIO(data))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


@pytest.mark.parametrize("bad", XML_INVALID, ids=[f"U+{ord(c):04X}" for c in XML_INVALID])
def test_brief_builds_from_text_xml_cannot_hold(bad):
    from policy_match.brief import visit_brief_docx

    profile = {"name": f"古镇{bad}灯饰有限公司", "industry": f"灯饰{bad}制造", "plans": f"上MES{bad}系统",
               "qualifications": [f"高新{bad}技术企业"]}
    result = {"as_of": "2026-11-27", "results": [{"policy_id": "x", "title": f"政策{bad}甲", "status": "eligible",
                                                   "amount_wan": {"low": 0, "high": 10}, "department": f"市{bad}工信局"}],
              "near_misses": [{"summary": f"差一点{bad}就能享受"}]}
    data = visit_brief_docx(profile, result, advisor=f"张{bad}三", notes=f"第一行{bad}第二行",
                            follow_up=f"送{bad}材料", visit_date="2026-11-20", follow_up_due="2026-12-01")
    text = _docx_text(data)
    for kept in ("灯饰有限公司", "市", "工信局", "张", "三", "第一行", "第二行", "送", "材料", "差一点", "就能享受"):
        assert kept in text  # what was typed around the character is kept
    assert bad not in text


def test_store_cleans_what_xml_cannot_hold_and_keeps_the_rest():
    from policy_match import visits as vs

    engine = vs.get_engine("sqlite://")
    vs.init_db(engine)
    vid = vs.save_visit(engine, {
        "firm_name": "古镇\x0b灯饰\ud800有限公司", "advisor": "张\x0c三", "notes": "第一行\x0b第二行\x0c第二页\x01",
        "follow_up": "送\x00材料", "profile": {"name": "古镇\x0b灯饰", "plans": "上MES\udfff", "k\x01": ["\ufffe"]},
        "result_summary": {"as_of": "2026-11-27", "near_misses": [{"summary": "差\x1f一点"}]},
    })
    got = vs.get_visit(engine, vid)
    assert got["firm_name"] == "古镇 灯饰有限公司" and got["advisor"] == "张 三"  # one-line fields
    assert got["notes"] == "第一行\n第二行\n第二页" and got["follow_up"] == "送材料"
    assert got["profile"] == {"name": "古镇\n灯饰", "plans": "上MES", "k": [""]}
    assert got["result_summary"]["near_misses"][0]["summary"] == "差一点"
    updated = vs.update_visit(engine, vid, notes="补充\x0b说明", advisor="李\x0b四")
    assert updated["notes"] == "补充\n说明" and updated["advisor"] == "李 四"
    vs.dispose_engines()


PRE_FIX_PROFILE = {"name": "旧记录\x0b灯饰有限公司", "town": "古镇镇", "sector": "C", "industry": "灯饰\x0c制造",
                   "plans": "上MES\x01系统，建设数字化车间", "annual_revenue_wan": 30000}


def _insert_raw_visit(db_path, *, firm_name, notes, follow_up, profile, summary, notes_sql=None) -> int:
    """A row as the store wrote it before XML-invalid text was cleaned (or as another tool wrote it)."""
    import sqlite3

    con = sqlite3.connect(db_path)
    try:
        cur = con.execute(
            "INSERT INTO visits (created_at, visit_date, advisor, firm_name, credit_code, town, profile_json, "
            f"result_summary_json, notes, follow_up, follow_up_due, status) VALUES ('2026-11-20 08:00:00.000000', "
            f"'2026-11-20', ?, ?, NULL, '古镇镇', ?, ?, {notes_sql or '?'}, ?, '2026-12-01', 'open')",
            ["王\x0b五", firm_name, json.dumps(profile, ensure_ascii=False),
             json.dumps(summary, ensure_ascii=False), *([] if notes_sql else [notes]), follow_up])
        con.commit()
        return cur.lastrowid
    finally:
        con.close()


@pytest.fixture
def visit_db(tmp_path, monkeypatch):
    from policy_match import visits as vs

    path = tmp_path / "old_visits.db"
    url = f"sqlite:///{path.as_posix()}"
    monkeypatch.setenv(vs.ENV_DB_URL, url)
    vs.init_db(vs.get_engine(url))
    yield path, url
    vs.dispose_engines()


def test_a_visit_stored_before_the_fix_opens_and_its_brief_builds(visit_db):
    from policy_match import match
    from policy_match import visits as vs
    from policy_match.brief import visit_brief_docx

    path, url = visit_db
    result = match({k: v for k, v in PRE_FIX_PROFILE.items()}, as_of="2026-11-27").to_dict()
    vid = _insert_raw_visit(path, firm_name="旧记录\x0b灯饰有限公司", notes="老板说\x0b明年上MES\x0c",
                            follow_up="送\x01材料", profile=PRE_FIX_PROFILE, summary=vs.summarize_result(result))
    # text another tool wrote as invalid UTF-8 (a lone surrogate encoded as bytes) in a second row
    bad_utf8 = _insert_raw_visit(path, firm_name="另一家企业", notes=None, follow_up="", profile={}, summary={},
                                 notes_sql="CAST(X'E8B5B0EDA080E8AEBF' AS TEXT)")
    engine = vs.get_engine(url)
    rows = vs.list_visits(engine)  # the list reads both rows instead of failing on the second
    assert {r["id"] for r in rows} == {vid, bad_utf8}
    assert vs.get_visit(engine, bad_utf8)["notes"].startswith("走") and "访" in vs.get_visit(engine, bad_utf8)["notes"]
    visit = vs.get_visit(engine, vid)
    assert visit["notes"] == "老板说\x0b明年上MES\x0c"  # reading back keeps the record as stored
    data = visit_brief_docx(visit["profile"], match(visit["profile"], as_of="2026-11-27").to_dict(),
                            advisor=visit["advisor"], notes=visit["notes"], follow_up=visit["follow_up"],
                            visit_date=visit["visit_date"], follow_up_due=visit["follow_up_due"])
    text = _docx_text(data)
    assert "旧记录\n灯饰有限公司" in text and "老板说\n明年上MES" in text and "送材料" in text


def _visits_page():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parent.parent / "app_pages" / "visits.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def test_app_opens_a_pre_fix_visit_and_offers_its_brief(visit_db):
    from policy_match import match
    from policy_match import visits as vs

    path, _ = visit_db
    summary = vs.summarize_result(match(PRE_FIX_PROFILE, as_of="2026-11-27").to_dict())
    vid = _insert_raw_visit(path, firm_name="旧记录\x0b灯饰有限公司", notes="老板说\x0b明年上MES",
                            follow_up="送\x01材料", profile=PRE_FIX_PROFILE, summary=summary)
    at = _visits_page()
    at.selectbox(key="vis_open").select(vid).run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error]
    assert any("旧记录" in t.value for t in at.text)
    button = next(b for b in at.get("download_button") if b.key == f"vis_brief_{vid}")
    assert button.proto.url  # the .docx was built and handed to Streamlit


def test_app_says_in_chinese_when_a_brief_cannot_be_built(visit_db, caplog):
    """A row saved by another tool: the profile was accepted then ("2000万美元" in a 万元 field) but is
    rejected now, so the brief falls back to the saved summary, whose near miss is a number."""
    path, _ = visit_db
    vid = _insert_raw_visit(path, firm_name="外部导入企业", notes="导入", follow_up="",
                            profile={"name": "外部导入企业", "annual_revenue_wan": "2000万美元"},
                            summary={"as_of": "2026-11-27", "policies": [], "near_misses": [{"summary": 5}]})
    at = _visits_page()
    with caplog.at_level("ERROR", logger="policy_match.app"):
        at.selectbox(key="vis_open").select(vid).run()
    assert not at.exception, at.exception
    [message] = [e.value for e in at.error]
    assert message.startswith("生成走访简报时出现意外错误") and "走访记录本身不受影响" in message
    assert "Traceback" not in message and "TypeError" not in message
    assert "导入" in [t.value for t in at.text]  # the visit itself is shown
    assert not [b for b in at.get("download_button") if b.key == f"vis_brief_{vid}"]
    assert any("生成走访简报失败" in r.getMessage() for r in caplog.records)


# -- 3. policy files that escape validation ------------------------------------------------

VICTIM = "zs-nantou-ecommerce.yaml"  # the file each hostile edit lands in


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _hostile_texts(original: str) -> dict[str, tuple[str, str]]:
    """name → (file content, what the problem line must say)."""
    import yaml

    nested_rule = yaml.safe_load(original)
    nested_rule["items"][0]["conditions"][0]["rule"] = {"field": "sector", "op": "in", "value": [["C"], ["F"]]}
    dict_rule = yaml.safe_load(original)
    dict_rule["items"][0]["conditions"][0]["rule"] = {"field": "listing_stage", "op": "eq", "value": {"a": 1}}
    dump = lambda d: yaml.safe_dump(d, allow_unicode=True, sort_keys=False)  # noqa: E731
    return {
        "impossible-date": (_edit(original, 'issued: "2023"', "issued: 2022-06-31"),
                            "line 8, column 9: malformed YAML: '2022-06-31' is not a real date"),
        "float-abc": (_edit(original, "value_wan: 5}", "value_wan: !!float abc}"),
                      "malformed YAML: cannot read 'abc' as float"),
        "int-abc": (_edit(original, "value_wan: 5}", "value_wan: !!int abc}"), "cannot read 'abc' as int"),
        "timestamp-abc": (_edit(original, 'issued: "2023"', "issued: !!timestamp abc"), "'abc' is not a real date"),
        "python-tag": (_edit(original, "value_wan: 5}", "value_wan: !!python/object/apply:os.system [id]}"),
                       "could not determine a constructor"),
        "duplicate-key": (_edit(original, 'issued: "2023"', 'issued: "2023"\nissued: "2024"'),
                          "line 9, column 1: malformed YAML: duplicate key 'issued' (first given at line 8)"),
        "duplicate-nested-key": (_edit(original, "value_wan: 5}", "value_wan: 5, value_wan: 50}"),
                                 "duplicate key 'value_wan'"),
        "inf": (_edit(original, "value_wan: 5}", "value_wan: .inf}"),
                "items[zs-nantou-ecommerce/24.1].amount.formula.value_wan: Input should be a finite number"),
        "nan": (_edit(original, "value_wan: 5}", "value_wan: .nan}"), "value_wan: Input should be a finite number"),
        "inf-in-a-rule": (_edit(original, "value_wan: 5}", "value_wan: 5}\n      upgrades: [{when: {field: employees, "
                                                           "op: ge, value: .inf}, cap_wan: 1, text: 更高档次}]"),
                          "upgrades[0].when.value: number inf is not allowed (must be finite and at most 1e+12)"),
        "huge-number": (_edit(original, "value_wan: 5}", "value_wan: 1e308}"),  # a string to YAML 1.1
                        "amount.formula.value_wan: number 1e+308 is not allowed"),
        "lists-of-lists": (dump(nested_rule), "conditions[0].rule: rule value must be text, a number or true/false"),
        "mapping-value": (dump(dict_rule), "conditions[0].rule: rule value must be text"),
        "alias-bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" + original, "anchors and aliases"),
        "deep-flow": ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 levels deep"),
        "deep-block": ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "nested more than 64 levels deep"),
    }


def _hostile_ids() -> list[str]:
    from tests.conftest import POLICIES

    return list(_hostile_texts((POLICIES / VICTIM).read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", _hostile_ids())
def test_hostile_policy_file_is_one_line_and_the_others_load(policy_copy, case):
    from policy_match.knowledge import load_directory

    total = len(list(policy_copy.glob("*.yaml")))
    content, expected = _hostile_texts((policy_copy / VICTIM).read_text(encoding="utf-8"))[case]
    (policy_copy / VICTIM).write_text(content, encoding="utf-8")
    kb = load_directory(policy_copy, check_catalog=False)
    assert len(kb.policies) == total - 1  # every other file still loads
    lines = [p.line() for p in kb.problems]
    assert lines and all(line.startswith(f"{VICTIM}: ") for line in lines), lines
    assert any(expected in line for line in lines), lines


def _special_files(directory):
    """Things in a policy directory that are not policy files at all."""
    import os

    os.mkfifo(directory / "pipe.yaml")  # reading it would block for ever
    (directory / "folder.yaml").mkdir()
    (directory / "dangling.yaml").symlink_to(directory / "nowhere.yaml")
    (directory / "endless.yaml").symlink_to("/dev/zero")
    (directory / "huge.yaml").write_bytes(b"a: '" + b"x" * (2 * 1024 * 1024) + b"'\n")
    (directory / "control.yaml").write_bytes(b"policy_id: \"\x00\"\n")
    (directory / "gbk.yaml").write_bytes("title: 中山".encode("gbk"))
    if Path("/proc/self/mem").exists():  # a regular file whose read fails (EIO), even for root
        (directory / "eio.yaml").symlink_to("/proc/self/mem")
    return {
        "pipe.yaml: (file): a pipe (FIFO), not a policy file (skipped)",
        "folder.yaml: (file): a directory, not a policy file (skipped)",
        "dangling.yaml: (file): cannot read: No such file or directory (skipped)",
        "endless.yaml: (file): a device or other special file, not a policy file (skipped)",
        "huge.yaml: (file): larger than 1024 KB; one record is far smaller",
        "control.yaml: character 13: malformed YAML: unacceptable character #x0000: control characters are not allowed",
        "gbk.yaml: (file): not UTF-8 text (invalid continuation byte at byte 7)",
    } | ({"eio.yaml: (file): cannot read: Input/output error (skipped)"} if Path("/proc/self/mem").exists() else set())


def test_special_files_in_the_policy_directory_are_skipped_never_hang(policy_copy):
    total = len(list(policy_copy.glob("*.yaml")))
    expected = _special_files(policy_copy)
    proc = run_cli("validate", str(policy_copy))  # run_cli's timeout fails the test if it hangs
    assert proc.returncode == 1
    lines = set(proc.stdout.splitlines())
    assert expected <= lines, lines - expected
    assert "内部错误" not in proc.stderr and "Traceback" not in proc.stderr
    assert f"{total} 个文件有效" in proc.stderr


def test_unreadable_file_is_named(policy_copy):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode (the /proc/self/mem case above covers a failing read)")
    path = policy_copy / VICTIM
    path.chmod(0)
    from policy_match.knowledge import load_directory

    lines = [p.line() for p in load_directory(policy_copy, check_catalog=False).problems]
    assert lines == [f"{VICTIM}: (file): cannot read: Permission denied (skipped)"]


@pytest.fixture
def data_copy(tmp_path):
    """A copy of the whole bundled data directory (policies, catalog, sources, vocabulary), with
    hostile files added, for a process started with POLICY_MATCH_DATA pointing at it."""
    import shutil

    from tests.conftest import ROOT

    target = tmp_path / "data"
    shutil.copytree(ROOT / "data", target)
    policies = target / "policies"
    texts = _hostile_texts((policies / VICTIM).read_text(encoding="utf-8"))
    (policies / VICTIM).write_text(texts["impossible-date"][0], encoding="utf-8")
    (policies / "zs-2025-ai-plus.yaml").write_text(
        _edit((policies / "zs-2025-ai-plus.yaml").read_text(encoding="utf-8"), "policy_id:", "policy_id: x\npolicy_id:"),
        encoding="utf-8")
    for name, (content, _) in texts.items():
        if name not in {"impossible-date"}:
            (policies / f"extra-{name}.yaml").write_text(content, encoding="utf-8")
    _special_files(policies)
    return target


def _run_with_data(data_dir, *args, stdin=None):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "POLICY_MATCH_DATA": str(data_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, env=env,
                          timeout=300, encoding="utf-8", cwd=ROOT)


def test_match_still_works_with_hostile_files_in_the_data_directory(data_copy):
    from tests.conftest import ROOT

    proc = _run_with_data(data_copy, "-m", "policy_match", "match", str(ROOT / "examples" / "guzhen-lighting.json"),
                          "--as-of", "2026-11-27")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # standard JSON: json.loads(..., parse_constant) would see Infinity/NaN
    ids = {r["policy_id"] for r in out["results"]}
    assert "zs-2022-digital-transformation" in ids  # the valid files still count
    assert not ids & {"zs-nantou-ecommerce", "zs-2025-ai-plus"}  # the broken ones are left out
    assert "Infinity" not in proc.stdout and "NaN" not in proc.stdout
    validate = _run_with_data(data_copy, "-m", "policy_match", "validate")
    assert validate.returncode == 1
    assert "zs-nantou-ecommerce.yaml: line 8, column 9: malformed YAML: '2022-06-31' is not a real date" in validate.stdout
    assert "zs-2025-ai-plus.yaml: line 3, column 1: malformed YAML: duplicate key 'policy_id' (first given at line 2)" in validate.stdout
    assert "内部错误" not in validate.stderr and "Traceback" not in validate.stderr


APP_PAGES_SCRIPT = r"""
import json, sys
from streamlit.testing.v1 import AppTest
out = {}
at = AppTest.from_file("app.py", default_timeout=240).run()
out["self_check"] = [str(e.value) for e in at.exception]
at.button(key="sc_submit").click().run()
out["self_check_match"] = [str(e.value) for e in at.exception]
out["self_check_cards"] = sum("普遍适用的服务" in m.value or "推荐申报" in m.value for m in at.markdown)
for page in ("app_pages/library.py", "app_pages/visits.py", "app_pages/batch.py"):
    at.switch_page(page).run()
    out[page] = [str(e.value) for e in at.exception] + [e.value for e in at.error if "意外错误" in e.value]
at.switch_page("app_pages/library.py").run()
out["library_warning"] = [w.value for w in at.warning]
from policy_match.knowledge import bundled_knowledge_base
out["policies"] = len(bundled_knowledge_base().policies)
print(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.slow
def test_app_pages_render_with_hostile_files_in_the_data_directory(data_copy, tmp_path):
    from tests.conftest import ROOT

    proc = _run_with_data(data_copy, "-c", APP_PAGES_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("self_check_cards") > 0
    bundled = len(list((ROOT / "data" / "policies").glob("*.yaml")))
    assert out.pop("policies") == bundled - 2  # all but the two broken ones
    [warning] = out.pop("library_warning")
    assert "个文件存在问题" in warning and "control.yaml" in warning.replace("\\", "")
    assert all(v == [] for v in out.values()), out


# -- 4. deployment defaults ---------------------------------------------------------------


def test_streamlit_reads_the_deployment_defaults():
    """What Streamlit itself makes of .streamlit/config.toml (an unsupported value would be refused)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 'showErrorDetails = "none"' in lines  # no exception type, message or traceback in the browser
    assert 'address = "127.0.0.1"' in lines  # this machine only
    assert 'gatherUsageStats = false' in lines


def _outside_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None without one."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.slow
def test_app_listens_on_this_machine_only_by_default():
    import socket
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no network address besides 127.0.0.1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "streamlit did not start"
                assert proc.poll() is None, "streamlit exited"
                time.sleep(0.5)
        with pytest.raises(OSError):
            socket.create_connection((outside, port), timeout=2).close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unexpected_error_is_a_chinese_message_and_a_log_line(tmp_path):
    """A deployment whose policy files are all broken: matching fails deep in scikit-learn. The
    browser gets one Chinese line; the traceback goes to the server log."""
    import shutil

    from tests.conftest import ROOT

    data = tmp_path / "data"
    (data / "policies").mkdir(parents=True)
    for name in ("catalog.csv", "sources.csv"):
        shutil.copy(ROOT / "data" / name, data / name)
    shutil.copytree(ROOT / "data" / "vocab", data / "vocab")
    (data / "policies" / "broken.yaml").write_text("items: [\n", encoding="utf-8")
    script = r"""
import json, logging
logging.basicConfig(level=logging.ERROR)
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=240).run()
at.button(key="sc_submit").click().run()
print(json.dumps({"exception": [str(e.value) for e in at.exception], "error": [e.value for e in at.error]},
                 ensure_ascii=False))
"""
    proc = _run_with_data(data, "-c", script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["exception"] == []  # no traceback element on the page
    assert out["error"] == ["显示本页时出现意外错误，详细信息已记入服务器日志。请稍后重试；如仍出现，请联系系统管理员。"]
    assert "ERROR:policy_match.app:显示本页失败" in proc.stderr and "Traceback" in proc.stderr  # the log line
