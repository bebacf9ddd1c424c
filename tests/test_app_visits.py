"""The 走访助手 page (app_pages/visits.py) through Streamlit's AppTest, on a temporary database."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from policy_match import visits as vs  # noqa: E402

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "visits.py")
TIMEOUT = 120


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{(tmp_path / 'app_visits.db').as_posix()}"
    monkeypatch.setenv(vs.ENV_DB_URL, url)
    yield url
    vs.dispose_engines()


def new_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


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


def test_match_save_and_reload_shows_the_visit(db_url):
    notes = "<script>alert(1)</script> 老板关心技改补助"
    at = match_and_save(new_page(), "古镇测试灯饰有限公司", "古镇镇", notes)
    assert any("已保存走访记录" in s.value for s in at.success)
    # saved in the database, notes verbatim
    saved = vs.list_visits(vs.get_engine(db_url))
    assert len(saved) == 1 and saved[0]["firm_name"] == "古镇测试灯饰有限公司" and saved[0]["notes"] == notes
    assert saved[0]["advisor"] == "张三" and saved[0]["result_summary"]["policies"]

    # a second click updates the same record instead of duplicating it
    at.text_area(key="vis_notes").input("补充：已约下次复访")
    at.button(key="vis_save").click().run()
    assert len(vs.list_visits(vs.get_engine(db_url))) == 1

    # a fresh session (another advisor, or after a restart) sees it in the list
    again = new_page()
    table = again.dataframe[0].value
    assert list(table["企业名称"]) == ["古镇测试灯饰有限公司"] and list(table["镇街"]) == ["古镇镇"]
    assert list(table["状态"]) == ["待跟进"]


def test_filter_reopen_update_and_brief(db_url):
    at = match_and_save(new_page(), "小榄测试五金有限公司", "小榄镇", "第一家")
    at = match_and_save(at, "小榄测试五金有限公司", "小榄镇", "第一家")  # same session, same record
    eng = vs.get_engine(db_url)
    vs.save_visit(eng, vs.VisitIn(firm_name="古镇另一家企业", town="古镇镇", notes="第二家"))
    at = new_page()
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="vis_filter_town").select("小榄镇").run()
    assert list(at.dataframe[0].value["企业名称"]) == ["小榄测试五金有限公司"]
    at.selectbox(key="vis_filter_town").select("全部镇街")
    at.text_input(key="vis_filter_firm").input("另一家").run()
    assert list(at.dataframe[0].value["企业名称"]) == ["古镇另一家企业"]
    at.text_input(key="vis_filter_firm").input("").run()

    vid = next(v["id"] for v in vs.list_visits(eng, firm="小榄测试"))
    at.selectbox(key="vis_open").select(vid).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert any("小榄测试五金有限公司" in t for t in texts) and "第一家" in texts
    brief = next(b for b in at.get("download_button") if b.key == f"vis_brief_{vid}")
    assert brief.label.startswith("下载")

    at.radio(key=f"vis_u_status_{vid}").set_value("done")
    at.button(key=f"vis_update_btn_{vid}").click().run()
    assert not at.exception and not errors(at)
    assert vs.get_visit(eng, vid)["status"] == "done"
    assert any("已更新" in s.value for s in at.success)

    # prefill from the firm's last visit
    at.selectbox(key="vis_pick").select(vid).run()
    assert at.text_input(key=f"vis_p{vid}_name").value == "小榄测试五金有限公司"


def test_brief_download_offered_for_the_current_visit(db_url):
    at = match_and_save(new_page(), "简报测试企业", "石岐街道", "走访备注文字")
    button = next(b for b in at.get("download_button") if b.key == "vis_brief_current")
    assert button.proto.label == "下载走访简报（Word）"
    assert button.proto.url  # the .docx bytes were handed to Streamlit's media store


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
