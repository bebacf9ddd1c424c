"""The 走访助手 page (app_pages/visits.py) through Streamlit's AppTest, on a temporary database,
in the order an advisor uses it: pick a firm, its past visit opens with what changed, notes, a
brief with the notes, save, the history; the reminders and the call-back list."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from policy_match import alerts as al  # noqa: E402
from policy_match import match  # noqa: E402
from policy_match import visits as vs  # noqa: E402
from policy_match.matcher import default_matcher  # noqa: E402

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "visits.py")
TIMEOUT = 120
AS_OF = date(2026, 12, 1)
HEADINGS = ["1. 选择企业", "2. 企业情况", "3. 走访记录与跟进", "4. 政策建议"]
LIGHTING = {
    "name": "古镇回访测试灯饰有限公司", "credit_code": "91442000MA4UABCD2X", "town": "古镇镇", "sector": "C",
    "industry": "灯饰照明制造", "above_scale": True, "annual_revenue_wan": 30000, "employees": 400,
    "qualifications": ["高新技术企业"], "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间",
    "equipment_software_investment_wan": 3000,
}
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{(tmp_path / 'app_visits.db').as_posix()}"
    monkeypatch.setenv(vs.ENV_DB_URL, url)
    yield url
    vs.dispose_engines()


@pytest.fixture
def downloads(monkeypatch):
    """The bytes behind each download button, as the browser would receive them: Streamlit's
    in-memory media store is wrapped (not replaced) to keep what it is given."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)

    def get(at: AppTest, key: str) -> bytes:
        button = next(b for b in at.get("download_button") if b.key == key)
        file_id = button.proto.url.rsplit("/", 1)[-1].split(".", 1)[0]
        return files[file_id]

    return get


def new_page(as_of: date = AS_OF) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.date_input(key="vis_as_of").set_value(as_of).run()
    assert not at.exception, at.exception
    return at


def history(at: AppTest):
    """The 走访记录 tab's table as a DataFrame."""
    return at.tabs[2].dataframe[0].value


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def ordered(at: AppTest, tab: int = 0) -> list[tuple[str, str]]:
    """(element type, text) of the tab's elements in page order."""
    out = []
    for node in at.tabs[tab]:
        text = getattr(node, "label", None) if node.type in {"button", "text_area", "text_input", "form"} else None
        if text is None:
            try:
                text = node.value
            except Exception:  # noqa: BLE001 - blocks and widgets without a text value
                text = ""
        out.append((node.type, str(text)))
    return out


def position(items: list[tuple[str, str]], predicate) -> int:
    return next(i for i, item in enumerate(items) if predicate(item))


def docx_text(data: bytes) -> str:
    import docx

    doc = docx.Document(io.BytesIO(data))
    return "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])


def match_and_save(at: AppTest, name: str, town: str, notes: str) -> AppTest:
    at.text_input(key="vis_new_name").input(name)
    at.selectbox(key="vis_new_town").select(town)
    at.text_input(key="vis_new_industry").input("灯饰照明制造")
    at.button(key="vis_new_submit").click().run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    assert any("匹配结果" in m.value for m in at.markdown)
    at.text_input(key="vis_advisor").input("张三")
    at.text_area(key="vis_notes").input(notes)
    at.text_area(key="vis_follow_up").input("下周送材料清单")
    at.button(key="vis_save").click().run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    return at


def seed(db_url: str, profile: dict, *, as_of: str, summary_edit=None, **visit) -> int:
    """A visit saved earlier: its advice matched at ``as_of``; ``summary_edit`` stands in for an
    older policy base (it edits the advice the visit stored)."""
    result = match(profile, as_of=as_of).to_dict()
    v = vs.visit_from_match(profile, result, base_version="older-base", **visit)
    if summary_edit is not None:
        v = v.model_copy(update={"result_summary": summary_edit(v.result_summary)})
    engine = vs.get_engine(db_url)
    vs.init_db(engine)
    return vs.save_visit(engine, v)


# -- the visit in its order ---------------------------------------------------------------------

def test_headings_number_1_to_4_before_and_after_a_match(db_url):
    at = new_page()
    assert [s.value for s in at.tabs[0].subheader] == HEADINGS
    at.text_input(key="vis_new_name").input("编号测试企业")
    at.button(key="vis_new_submit").click().run()
    assert not at.exception
    assert [s.value for s in at.tabs[0].subheader] == HEADINGS
    assert [t.label for t in at.tabs] == [":material/edit_note: 本次走访", ":material/notifications: 提醒与回访",
                                         ":material/history: 走访记录"]


def test_notes_come_before_the_advice_and_the_advice_is_recommended_first(db_url):
    at = new_page()
    at.text_input(key="vis_new_name").input("顺序测试企业")
    at.text_area(key="vis_new_plans").input(LIGHTING["plans"])
    at.button(key="vis_new_submit").click().run()
    items = ordered(at)
    notes = position(items, lambda x: x == ("text_area", "走访情况"))
    save = position(items, lambda x: x[0] == "button" and x[1] == "保存走访记录")
    advice = position(items, lambda x: x[1] == "4. 政策建议")
    results = position(items, lambda x: x[1] == "### 匹配结果")
    recommended = position(items, lambda x: x[1] == "### 推荐申报")
    assert notes < save < advice < results < recommended, items[:40]
    # the rest of the advice is collapsed: "其他可了解的政策" sits in a closed expander
    expanders = [e for e in at.tabs[0].expander if e.label.startswith("其他可了解的政策")]
    assert expanders and not expanders[0].proto.expanded


def test_pick_a_firm_its_past_visit_opens_notes_brief_save_history(db_url, downloads):
    vid = seed(db_url, LIGHTING, as_of="2026-11-20", visit_date=date(2026, 11, 20), advisor="李四",
               notes="上次：老板关心技改补助", follow_up="送申报材料清单", follow_up_due=date(2026, 11, 25))
    at = new_page()
    at.selectbox(key="vis_pick").select(vid).run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    tab = at.tabs[0]
    # the past visit opens: its notes, its follow-up (overdue), what changed since
    assert "上次：老板关心技改补助" in [t.value for t in tab.text]
    lines = "\n".join(m.value for m in tab.markdown)
    assert "**上次走访**：2026-11-20" in lines and "跟进已逾期 6 天" in lines
    assert "自上次走访以来的变化" in lines
    # matched at once from the stored profile; the form stays folded away until asked for
    assert any(m.value == "### 匹配结果" for m in tab.markdown)
    assert not [w for w in at.text_input if w.key == f"vis_p{vid}_name"]
    at.toggle(key=f"vis_edit_{vid}").set_value(True).run()
    assert at.text_input(key=f"vis_p{vid}_name").value == LIGHTING["name"]

    # notes typed, the brief made without saving: it holds the notes on screen
    at.text_input(key="vis_advisor").input("张三")
    at.text_area(key="vis_notes").input("复访：MES 项目已立项，<b>下月</b>报技改")
    at.text_area(key="vis_follow_up").input("12 月 10 日前送示范车间申报材料")
    at.button(key="vis_make_brief").click().run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    text = docx_text(downloads(at, "vis_brief_current"))
    assert "复访：MES 项目已立项，<b>下月</b>报技改" in text and "12 月 10 日前送示范车间申报材料" in text
    assert "张三" in text and "有效期" in text  # the policy table carries validity and deadlines
    assert any("尚未保存" in c.value for c in at.caption)
    assert len(vs.list_visits(vs.get_engine(db_url))) == 1  # nothing saved by the brief

    # save: a second visit of the same firm, with the notes; the history lists it first
    at.button(key="vis_save").click().run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    saved = vs.list_visits(vs.get_engine(db_url))
    assert len(saved) == 2 and saved[0]["notes"] == "复访：MES 项目已立项，<b>下月</b>报技改"
    assert saved[0]["advisor"] == "张三" and saved[0]["base_version"] == al.base_version(default_matcher().kb_)
    assert saved[0]["result_summary"]["base_version"] == saved[0]["base_version"]
    assert any("已保存走访记录" in s.value for s in at.success)
    table = history(at)
    assert list(table["编号"])[0] == saved[0]["id"] and list(table["走访人"])[:2] == ["张三", "李四"]
    assert "跟进期限" in table.columns and "状态" in table.columns
    # the brief now says it is saved; "上次走访" still means the earlier visit
    assert any(f"已保存为走访记录 #{saved[0]['id']}" in c.value for c in at.caption)
    assert "**上次走访**：2026-11-20" in "\n".join(m.value for m in at.tabs[0].markdown)


def test_match_save_and_reload_shows_the_visit(db_url):
    notes = "<script>alert(1)</script> 老板关心技改补助"
    at = match_and_save(new_page(), "古镇测试灯饰有限公司", "古镇镇", notes)
    assert any("已保存走访记录" in s.value for s in at.success)
    saved = vs.list_visits(vs.get_engine(db_url))
    assert len(saved) == 1 and saved[0]["firm_name"] == "古镇测试灯饰有限公司" and saved[0]["notes"] == notes
    assert saved[0]["advisor"] == "张三" and saved[0]["result_summary"]["policies"]

    # a second click updates the same record instead of duplicating it
    at.text_area(key="vis_notes").input("补充：已约下次复访")
    at.button(key="vis_save").click().run()
    assert len(vs.list_visits(vs.get_engine(db_url))) == 1

    # a fresh session (another advisor, or after a restart) sees it in the list
    again = new_page()
    table = history(again)
    assert list(table["企业名称"]) == ["古镇测试灯饰有限公司"] and list(table["镇街"]) == ["古镇镇"]
    assert list(table["状态"]) == ["待跟进"]


def test_saving_or_a_brief_before_a_match_says_what_to_do(db_url):
    at = new_page()
    at.text_area(key="vis_notes").input("先记下来")
    at.button(key="vis_save").click().run()
    assert not at.exception
    assert any("请先在第 2 步点击“开始匹配”" in w.value for w in at.warning)
    assert vs.list_visits(vs.get_engine(db_url)) == []
    assert not [b for b in at.get("download_button") if b.key == "vis_brief_current"]


def test_filter_reopen_update_and_brief(db_url):
    at = match_and_save(new_page(), "小榄测试五金有限公司", "小榄镇", "第一家")
    eng = vs.get_engine(db_url)
    vs.save_visit(eng, vs.VisitIn(firm_name="古镇另一家企业", town="古镇镇", notes="第二家"))
    at = new_page()
    assert len(history(at)) == 2
    at.selectbox(key="vis_filter_town").select("小榄镇").run()
    assert list(history(at)["企业名称"]) == ["小榄测试五金有限公司"]
    at.selectbox(key="vis_filter_town").select("全部镇街")
    at.text_input(key="vis_filter_firm").input("另一家").run()
    assert list(history(at)["企业名称"]) == ["古镇另一家企业"]
    at.text_input(key="vis_filter_firm").input("").run()

    vid = next(v["id"] for v in vs.list_visits(eng, firm="小榄测试"))
    at.selectbox(key="vis_open").select(vid).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert any("小榄测试五金有限公司" in t for t in texts) and "第一家" in texts
    assert any("走访后的政策变化" in m.value for m in at.markdown)
    brief = next(b for b in at.get("download_button") if b.key == f"vis_brief_{vid}")
    assert brief.label.startswith("下载")

    at.radio(key=f"vis_u_status_{vid}").set_value("done")
    at.button(key=f"vis_update_btn_{vid}").click().run()
    assert not at.exception and not errors(at)
    assert vs.get_visit(eng, vid)["status"] == "done"
    assert any("已更新" in s.value for s in at.success)


def test_database_error_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(vs.ENV_DB_URL, f"sqlite:///{(blocker / 'visits.db').as_posix()}")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("走访记录库暂时无法使用" in e for e in errors(at))
    # matching still works without the store
    at.text_input(key="vis_new_name").input("无库企业")
    at.button(key="vis_new_submit").click().run()
    assert not at.exception and any("匹配结果" in m.value for m in at.markdown)
    vs.dispose_engines()


def test_icons_are_material_icons_not_emoji(db_url):
    at = match_and_save(new_page(), "图标测试企业", "石岐街道", "备注")
    at.button(key="vis_make_brief").click().run()
    icons = [e.proto.icon for kind in ("success", "error", "warning", "info") for e in getattr(at, kind)]
    icons += [b.proto.icon for b in at.button] + [b.proto.icon for b in at.get("download_button")]
    assert icons and all(not i or i.startswith(":material/") for i in icons), icons
    source = Path(PAGE).read_text(encoding="utf-8")
    assert not EMOJI.search(source)
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    assert not [t for t in shown if EMOJI.search(t)]


# -- reminders and alerts -------------------------------------------------------------------------

def _older_base(summary: dict) -> dict:
    """The advice as an older base gave it: the digital pilot was not in it yet, and it still had a
    scheme that has since been dropped."""
    policies = [p for p in summary["policies"] if p["policy_id"] != "zs-2024-sme-digital-pilot"]
    policies.append({"policy_id": "zs-retired-example", "title": "已停止执行的示例政策", "status": "eligible",
                     "fit": "recommended", "validity": "current", "deadline": None,
                     "amount_wan": {"low": 10, "high": 10}})
    return {**summary, "policies": policies}


def test_a_visit_with_an_older_base_shows_what_changed(db_url):
    now = match(LIGHTING, as_of=AS_OF.isoformat())
    assert now.by_id("zs-2024-sme-digital-pilot")["fit"] == "recommended"  # the data this test rests on
    vid = seed(db_url, LIGHTING, as_of="2026-11-20", summary_edit=_older_base, visit_date=date(2026, 11, 20),
               advisor="李四")
    at = new_page()
    at.selectbox(key="vis_pick").select(vid).run()
    lines = "\n".join(m.value for m in at.tabs[0].markdown)
    assert "**新增推荐**：中小企业数字化转型城市试点资金" in lines
    assert "**不再可申请**：已停止执行的示例政策（政策库中已没有这项政策）" in lines
    assert "**临近截止**：中小企业数字化转型城市试点资金 2026\\-12\\-31 截止，还剩 30 天" in lines
    assert any("走访后政策库已更新" in c.value for c in at.tabs[0].caption)
    # the same in the call-back list
    callbacks = "\n".join(m.value for m in at.tabs[1].markdown)
    assert "古镇回访测试灯饰有限公司" in callbacks and "**新增推荐**" in callbacks and "**不再可申请**" in callbacks


def test_a_visit_matched_at_an_older_date_shows_an_ended_scheme(db_url):
    # a policy recommended at the visit whose window has closed by the 基准日
    earlier = match(LIGHTING, as_of="2025-06-01")
    ended = [p for p in earlier.policies if p.fit == "recommended" and p.validity.deadline
             and p.validity.deadline < AS_OF]
    if not ended:
        pytest.skip("no policy recommended in 2025-06 has ended by 2026-12 in the current data")
    vid = seed(db_url, LIGHTING, as_of="2025-06-01", visit_date=date(2025, 6, 1))
    at = new_page()
    at.selectbox(key="vis_pick").select(vid).run()
    lines = "\n".join(m.value for m in at.tabs[0].markdown)
    title = ended[0].policy.short_title or ended[0].policy.title
    assert f"**不再可申请**：{title}" in lines.replace("\\", "")
    assert "已过期" in lines


def test_due_follow_ups_are_listed_by_advisor_and_town_and_download(db_url, downloads):
    eng = vs.get_engine(db_url)
    vs.init_db(eng)
    overdue = vs.save_visit(eng, vs.VisitIn(firm_name="逾期跟进企业", town="小榄镇", advisor="张三",
                                            follow_up="=HYPERLINK(\"http://x\")送材料", follow_up_due=date(2026, 11, 28)))
    vs.save_visit(eng, vs.VisitIn(firm_name="今天到期企业", town="古镇镇", advisor="李四", follow_up="电话回访",
                                  follow_up_due=AS_OF))
    vs.save_visit(eng, vs.VisitIn(firm_name="已完成企业", town="小榄镇", advisor="张三", follow_up="已办",
                                  follow_up_due=date(2026, 11, 1), status="done"))
    vs.save_visit(eng, vs.VisitIn(firm_name="远期企业", town="小榄镇", advisor="张三", follow_up="明年再说",
                                  follow_up_due=date(2027, 3, 1)))
    at = new_page()
    tab = at.tabs[1]
    text = "\n".join(m.value for m in tab.markdown)
    assert "逾期跟进企业" in text and "**跟进已逾期 3 天**" in text
    assert "今天到期企业" in text and "**今天到期**" in text
    assert "已完成企业" not in text and "远期企业" not in text
    assert tab.metric[0].value == "2 家" and tab.metric[1].value == "1 项"

    at.selectbox(key="vis_alert_town").select("小榄镇").run()
    text = "\n".join(m.value for m in at.tabs[1].markdown)
    assert "逾期跟进企业" in text and "今天到期企业" not in text
    at.selectbox(key="vis_alert_town").select("全部镇街")
    at.selectbox(key="vis_alert_advisor").select("李四").run()
    text = "\n".join(m.value for m in at.tabs[1].markdown)
    assert "今天到期企业" in text and "逾期跟进企业" not in text

    at.selectbox(key="vis_alert_advisor").select("全部走访人").run()
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(downloads(at, "vis_callbacks_xlsx")))
    sheet = book["回访名单"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "镇街", "企业名称")
    firms = {r[2]: r for r in rows[1:]}
    assert set(firms) == {"逾期跟进企业", "今天到期企业"}
    cell = next(c for c in sheet["H"] if c.value and "HYPERLINK" in str(c.value))
    assert cell.data_type == "s"  # the follow-up stays text, never a formula
    assert firms["逾期跟进企业"][-1] == overdue


def test_an_old_database_opens_lists_and_compares(tmp_path, monkeypatch):
    """A database made before the policy base's version was stored: migrated on open."""
    import json
    import sqlite3

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME, visit_date DATE, "
                "advisor VARCHAR(50), firm_name VARCHAR(200), credit_code VARCHAR(18), town VARCHAR(20), "
                "profile_json TEXT, result_summary_json TEXT, notes TEXT, follow_up TEXT, follow_up_due DATE, "
                "status VARCHAR(10), updated_at DATETIME)")
    old_summary = vs.summarize_result(match(LIGHTING, as_of="2026-11-20").to_dict())
    for p in old_summary["policies"]:  # as saved before the advice layer: no fit
        p.pop("fit")
    old_summary.pop("base_version")
    con.execute("INSERT INTO visits (created_at, visit_date, advisor, firm_name, credit_code, town, profile_json, "
                "result_summary_json, notes, follow_up, follow_up_due, status) VALUES ('2026-11-20 08:00:00', "
                "'2026-11-20', '王五', ?, NULL, '古镇镇', ?, ?, '旧记录', '送材料', '2026-11-30', 'open')",
                [LIGHTING["name"], json.dumps(LIGHTING, ensure_ascii=False), json.dumps(old_summary, ensure_ascii=False)])
    con.commit()
    con.close()
    monkeypatch.setenv(vs.ENV_DB_URL, f"sqlite:///{path.as_posix()}")
    try:
        at = new_page()
        assert not errors(at)
        assert list(history(at)["企业名称"]) == [LIGHTING["name"]]
        [vid] = list(history(at)["编号"])
        at.selectbox(key="vis_open").select(vid).run()
        assert not at.exception and not errors(at)
        captions = "\n".join(c.value for c in at.tabs[2].caption)
        assert "走访记录早于“推荐申报”分级" in captions
        text = "\n".join(m.value for m in at.tabs[1].markdown)
        assert "**跟进已逾期 1 天**" in text
    finally:
        vs.dispose_engines()
