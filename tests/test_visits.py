"""The visit store (policy_match.visits): save, list, reopen, update, concurrency, persistence."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from policy_match import match
from policy_match import visits as vs

PROFILE = {
    "name": "古镇示例灯饰有限公司", "credit_code": "91442000MA4UABCD1X", "town": "古镇镇", "sector": "C",
    "industry": "灯饰照明制造", "above_scale": True, "annual_revenue_wan": 30000, "employees": 400,
    "qualifications": ["高新技术企业"], "plans": "上MES系统，建设数字化车间",
    "equipment_software_investment_wan": 3000,
}
AS_OF = "2026-11-27"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'visits.db').as_posix()}"


@pytest.fixture
def engine(db_url):
    eng = vs.get_engine(db_url)
    vs.init_db(eng)
    yield eng
    vs.dispose_engines()


def _visit(firm: str = "示例企业", **kw) -> vs.VisitIn:
    return vs.VisitIn(firm_name=firm, **kw)


# -- save / get / list / update ---------------------------------------------------------

def test_save_and_get_round_trip_with_match_summary(engine):
    result = match(PROFILE, as_of=AS_OF).to_dict()
    visit = vs.visit_from_match(PROFILE, result, advisor="张三", visit_date=date(2026, 11, 20),
                                notes="企业计划明年上 MES", follow_up="下周送申报材料清单",
                                follow_up_due=date(2026, 12, 1))
    vid = vs.save_visit(engine, visit)
    got = vs.get_visit(engine, vid)
    assert got["firm_name"] == PROFILE["name"] and got["credit_code"] == PROFILE["credit_code"]
    assert got["town"] == "古镇镇" and got["advisor"] == "张三"
    assert got["visit_date"] == date(2026, 11, 20) and got["follow_up_due"] == date(2026, 12, 1)
    assert got["status"] == "open" and got["notes"] == "企业计划明年上 MES"
    assert got["profile"] == PROFILE  # the raw profile, Chinese intact
    assert got["created_at"].tzinfo is not None and got["created_at"].utcoffset() == timedelta(0)
    summary = got["result_summary"]
    assert summary["as_of"] == AS_OF
    first = summary["policies"][0]
    assert set(first) == {"policy_id", "title", "short_title", "status", "fit", "validity", "deadline", "amount_wan"}
    assert [p["policy_id"] for p in summary["policies"]] == [r["policy_id"] for r in result["results"]]
    assert summary["counts"]["eligible"] + summary["counts"]["possible"] > 0
    assert [n["summary"] for n in summary["near_misses"]] == [n["summary"] for n in result["near_misses"]]
    assert "items" not in first  # compact: no conditions or items


def test_the_advice_snapshot_names_its_policy_base(engine):
    result = match(PROFILE, as_of=AS_OF).to_dict()
    vid = vs.save_visit(engine, vs.visit_from_match(PROFILE, result, base_version="abc123def456"))
    got = vs.get_visit(engine, vid)
    assert got["base_version"] == "abc123def456" and got["result_summary"]["base_version"] == "abc123def456"
    summary = got["result_summary"]
    recommended = [p for p in summary["policies"] if p["fit"] == "recommended"]
    assert recommended and all("amount_wan" in p and "deadline" in p for p in recommended)
    assert summary["summary"]["amount_wan"]["high"] == result["summary"]["amount_wan"]["high"]
    assert vs.get_visit(engine, vs.save_visit(engine, _visit()))["base_version"] is None


def test_an_old_table_gets_the_new_column_and_its_rows_stay(tmp_path):
    """A database made by the store before ``base_version`` existed: ``init_db`` adds the
    column (twice is harmless), old rows read with it empty, new rows store it."""
    import sqlite3

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at DATETIME, visit_date DATE, "
                "advisor VARCHAR(50), firm_name VARCHAR(200), credit_code VARCHAR(18), town VARCHAR(20), "
                "profile_json TEXT, result_summary_json TEXT, notes TEXT, follow_up TEXT, follow_up_due DATE, "
                "status VARCHAR(10), updated_at DATETIME)")
    con.execute("INSERT INTO visits (created_at, visit_date, firm_name, town, profile_json, notes, follow_up, status) "
                "VALUES ('2026-01-05 08:00:00', '2026-01-05', '旧表企业', '古镇镇', '{}', '旧', '', 'open')")
    con.commit()
    con.close()
    eng = vs.get_engine(f"sqlite:///{path.as_posix()}")
    vs.init_db(eng)
    vs.init_db(eng)
    [old] = vs.list_visits(eng)
    assert old["firm_name"] == "旧表企业" and old["base_version"] is None and old["result_summary"] is None
    vid = vs.save_visit(eng, _visit("新企业", base_version="v2"))
    assert vs.get_visit(eng, vid)["base_version"] == "v2"
    with sqlite3.connect(path) as con:
        assert "base_version" in [r[1] for r in con.execute("PRAGMA table_info(visits)")]
    vs.dispose_engines()


def test_group_by_firm_and_advisors(engine):
    a = vs.save_visit(engine, _visit("甲公司", advisor="张三", visit_date=date(2026, 1, 1)))
    b = vs.save_visit(engine, _visit("甲公司", advisor="李四", credit_code="91442000MA4UABCD1X",
                                     visit_date=date(2026, 2, 1)))
    c = vs.save_visit(engine, _visit("甲公司（更名）", credit_code="91442000MA4UABCD1X", visit_date=date(2026, 3, 1)))
    d = vs.save_visit(engine, _visit("乙公司", advisor="张三", visit_date=date(2026, 2, 15)))
    groups = vs.group_by_firm(vs.list_visits(engine))
    assert [[v["id"] for v in g] for g in groups] == [[c, b, a], [d]]  # the name and the code join them
    assert vs.advisors(engine) == sorted(["张三", "李四"])
    assert [v["id"] for v in vs.list_visits(engine, advisor="张三")] == [d, a]


def test_get_missing_visit_is_none(engine):
    assert vs.get_visit(engine, 12345) is None
    assert vs.update_visit(engine, 12345, notes="x") is None


def test_list_newest_first_and_filters(engine):
    a = vs.save_visit(engine, _visit("古镇甲灯饰有限公司", town="古镇镇", visit_date=date(2026, 1, 5)))
    b = vs.save_visit(engine, _visit("小榄乙五金有限公司", town="小榄镇", visit_date=date(2026, 3, 1)))
    c = vs.save_visit(engine, _visit("古镇甲灯饰有限公司", town="古镇镇", visit_date=date(2026, 2, 1),
                                     credit_code="91442000ma4uabcd1x"))
    d = vs.save_visit(engine, _visit("100%_特殊企业", visit_date=date(2026, 3, 1)))
    assert [v["id"] for v in vs.list_visits(engine)] == [d, b, c, a]
    assert [v["id"] for v in vs.list_visits(engine, firm="甲灯饰")] == [c, a]
    assert [v["id"] for v in vs.list_visits(engine, town="古镇镇")] == [c, a]
    assert [v["id"] for v in vs.list_visits(engine, town="古镇")] == [c, a]  # short name accepted
    assert [v["id"] for v in vs.list_visits(engine, firm="古镇", town="小榄镇")] == []
    assert [v["id"] for v in vs.list_visits(engine, credit_code="91442000MA4UABCD1X")] == [c]
    assert [v["id"] for v in vs.list_visits(engine, firm="MA4UABCD")] == [c]  # part of the credit code
    assert [v["id"] for v in vs.list_visits(engine, firm="%")] == [d]  # LIKE wildcards are literal
    assert [v["id"] for v in vs.list_visits(engine, firm="  ")] == [d, b, c, a]
    latest = vs.latest_visits_by_firm(engine)
    assert [v["id"] for v in latest] == [d, b, c]  # 古镇甲: only its latest visit (by date)


def test_update_notes_follow_up_and_status(engine):
    vid = vs.save_visit(engine, _visit(notes="初次走访", follow_up="送材料", follow_up_due=date(2026, 12, 1)))
    upd = vs.update_visit(engine, vid, notes="已电话确认", status="done")
    assert upd["notes"] == "已电话确认" and upd["status"] == "done"
    assert upd["follow_up"] == "送材料" and upd["follow_up_due"] == date(2026, 12, 1)  # kept
    assert upd["updated_at"] is not None
    upd = vs.update_visit(engine, vid, follow_up_due=None)
    assert upd["follow_up_due"] is None  # cleared when given as None
    assert vs.get_visit(engine, vid)["notes"] == "已电话确认"
    with pytest.raises(vs.VisitError, match="跟进状态"):
        vs.update_visit(engine, vid, status="closed")


def test_replace_visit_overwrites_but_keeps_id_created_at_and_status(engine):
    vid = vs.save_visit(engine, vs.visit_from_match(PROFILE, None, notes="初稿"))
    before = vs.get_visit(engine, vid)
    vs.update_visit(engine, vid, status="done")
    changed = {**PROFILE, "employees": 450}
    after = vs.replace_visit(engine, vid, vs.visit_from_match(changed, match(changed, as_of=AS_OF).to_dict(),
                                                              notes="改正从业人数后再次保存", advisor="李四"))
    assert after["id"] == vid and after["created_at"] == before["created_at"]
    assert after["profile"]["employees"] == 450 and after["result_summary"]["as_of"] == AS_OF
    assert after["notes"] == "改正从业人数后再次保存" and after["advisor"] == "李四"
    assert after["status"] == "done"  # not given, so kept
    assert vs.replace_visit(engine, 999, _visit()) is None
    assert len(vs.list_visits(engine)) == 1


def test_visits_by_town(engine):
    today = date(2026, 11, 27)
    vs.save_visit(engine, _visit("甲", town="古镇镇", follow_up_due=date(2026, 11, 1)))  # overdue
    vs.save_visit(engine, _visit("甲", town="古镇镇", follow_up_due=date(2026, 12, 30)))
    vs.save_visit(engine, _visit("乙", town="古镇镇", status="done", follow_up_due=date(2026, 1, 1)))
    vs.save_visit(engine, _visit("丙", town="小榄镇"))
    vs.save_visit(engine, _visit("丁"))
    rows = {r["town"]: r for r in vs.visits_by_town(engine, today=today)}
    assert rows["古镇镇"] == {**rows["古镇镇"], "visits": 3, "firms": 2, "open": 2, "overdue": 1}
    assert rows["小榄镇"]["visits"] == 1 and rows["小榄镇"]["overdue"] == 0
    assert rows[None]["visits"] == 1
    assert vs.visits_by_town(engine)[0]["town"] == "古镇镇"  # most visits first


# -- validation ---------------------------------------------------------------------------

def test_invalid_visit_rejected_with_clear_message(engine):
    with pytest.raises(vs.VisitError) as exc:
        vs.save_visit(engine, {"firm_name": "   ", "town": "北京市", "notes": "长" * (vs.MAX_NOTES + 1),
                               "visit_date": "2026-13-40"})
    msg = str(exc.value)
    assert "企业名称（firm_name）：不能为空" in msg
    assert "“北京市”不是中山市的镇街" in msg
    assert f"不能超过 {vs.MAX_NOTES} 个字" in msg
    assert "走访日期" in msg
    with pytest.raises(vs.VisitError, match="企业名称"):
        vs.visit_from_match({"town": "古镇镇"}, None)  # a profile without a name cannot be saved
    with pytest.raises(vs.VisitError, match="走访人"):
        vs.validate_visit({"firm_name": "甲", "advisor": "张" * 51})
    assert vs.list_visits(engine) == []  # nothing half-saved


def test_strings_stripped_blank_optionals_none():
    v = vs.validate_visit({"firm_name": "  甲公司 ", "advisor": "  ", "credit_code": "", "town": " 火炬区 ",
                           "follow_up_due": "", "notes": None})
    assert v.firm_name == "甲公司" and v.advisor is None and v.credit_code is None
    assert v.town == "火炬开发区" and v.follow_up_due is None and v.notes == ""


def test_html_in_notes_stored_verbatim(engine):
    html = '<script>alert("x")</script> & <b>加粗</b> &amp;'
    vid = vs.save_visit(engine, _visit('<img src=x onerror="1">公司', notes=html, follow_up=html))
    got = vs.get_visit(engine, vid)
    assert got["notes"] == html and got["follow_up"] == html
    assert got["firm_name"] == '<img src=x onerror="1">公司'
    assert vs.list_visits(engine, firm="<img")[0]["notes"] == html


# -- persistence and configuration --------------------------------------------------------

def test_visits_survive_a_restart(db_url, tmp_path):
    eng = vs.get_engine(db_url)
    vs.init_db(eng)
    vid = vs.save_visit(eng, _visit("重启测试企业", notes="中文备注"))
    vs.dispose_engines()  # the server goes away: every connection closed, the cache emptied
    fresh = vs.get_engine(db_url)
    assert fresh is not eng
    vs.init_db(fresh)  # the app calls it on start; must not wipe anything
    got = vs.get_visit(fresh, vid)
    assert got["firm_name"] == "重启测试企业" and got["notes"] == "中文备注"
    assert (tmp_path / "visits.db").exists()
    vs.dispose_engines()


def test_env_var_url_honoured(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "dir" / "env.db"  # folders are created
    url = f"sqlite:///{target.as_posix()}"
    monkeypatch.setenv(vs.ENV_DB_URL, url)
    assert vs.database_url() == url
    eng = vs.get_engine()
    assert eng is vs.get_engine(url)  # cached per URL
    vs.init_db(eng)
    vs.save_visit(eng, _visit("环境变量企业"))
    assert target.exists()
    assert vs.list_visits(vs.get_engine(url))[0]["firm_name"] == "环境变量企业"
    vs.dispose_engines()


def test_default_url_is_var_under_repo_root(monkeypatch):
    monkeypatch.delenv(vs.ENV_DB_URL, raising=False)
    root = Path(__file__).resolve().parent.parent
    assert vs.database_url() == f"sqlite:///{(root / 'var' / 'visits.db').as_posix()}"


def test_sqlite_uses_wal_and_busy_timeout(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_in_memory_database_works():
    eng = vs.get_engine("sqlite://")
    vs.init_db(eng)
    vid = vs.save_visit(eng, _visit("内存企业"))
    assert vs.get_visit(eng, vid)["firm_name"] == "内存企业"
    vs.dispose_engines()


def test_unreachable_database_is_a_store_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(vs.StoreError) as exc:
        eng = vs.get_engine(f"sqlite:///{(blocker / 'visits.db').as_posix()}")
        vs.init_db(eng)
    assert "走访记录库" in str(exc.value)
    vs.dispose_engines()


# -- concurrency ----------------------------------------------------------------------------

PER_WRITER = 50


def _save_many(url: str, tag: str, barrier=None) -> list[int]:
    eng = vs.get_engine(url)
    vs.init_db(eng)
    if barrier is not None:
        barrier.wait(timeout=60)
    return [vs.save_visit(eng, _visit(f"{tag}-{i:02d}", town="小榄镇", notes=f"{tag} 第{i}次")) for i in range(PER_WRITER)]


def test_two_threads_saving_at_once_lose_nothing(db_url, engine):
    barrier = threading.Barrier(2)
    ids: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def run(tag: str) -> None:
        try:
            ids[tag] = _save_many(db_url, tag, barrier)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in ("线程A", "线程B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    saved = vs.list_visits(engine)
    assert len(saved) == 2 * PER_WRITER
    assert len({*ids["线程A"], *ids["线程B"]}) == 2 * PER_WRITER
    assert {v["firm_name"] for v in saved} == {f"{t}-{i:02d}" for t in ("线程A", "线程B") for i in range(PER_WRITER)}


def _process_worker(url: str, tag: str, barrier, out) -> None:
    try:
        out.put((tag, _save_many(url, tag, barrier)))
    except BaseException as exc:  # noqa: BLE001 - sent back to the parent
        out.put((tag, repr(exc)))


def _init_worker(url: str, barrier, out) -> None:
    try:
        engine = vs.get_engine(url)
        barrier.wait(timeout=60)
        vs.init_db(engine)
        out.put("ok")
    except BaseException as exc:  # noqa: BLE001 - sent back to the parent
        out.put(repr(exc))


def test_two_processes_opening_a_new_store_at_once_both_succeed(tmp_path):
    """Two app processes starting on a store that does not exist yet: switching the new file to
    WAL answers "database is locked" at once to the second (no busy handler), which used to fail
    its start in about half of such races."""
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(6):
        url = f"sqlite:///{(tmp_path / f'new-{round_}.db').as_posix()}"
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_init_worker, args=(url, barrier, out)) for _ in range(2)]
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert results == ["ok", "ok"], (round_, results)


def test_two_processes_saving_at_once_lose_nothing(db_url, tmp_path):
    ctx = multiprocessing.get_context("spawn")  # no inherited connections
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(db_url, tag, barrier, out)) for tag in ("进程A", "进程B")]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=180) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    for tag, got in results.items():
        assert isinstance(got, list) and len(got) == PER_WRITER, f"{tag}: {got}"
    eng = vs.get_engine(db_url)
    saved = vs.list_visits(eng)
    assert len(saved) == 2 * PER_WRITER
    assert len({v["id"] for v in saved}) == 2 * PER_WRITER
    assert sum(v["firm_name"].startswith("进程A") for v in saved) == PER_WRITER
    vs.dispose_engines()
