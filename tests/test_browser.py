"""Real-browser tests: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Screenshots and the measured timings go to `test-output/browser/` (git-ignored). Skipped, with
the reason, where Chromium is not installed.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT = ROOT / "test-output" / "browser"
# Flags this closed-network machine needs (no background connections, no sandbox as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

if CHROMIUM is None:
    pytest.skip("chromium is not installed (Debian: apt-get install chromium fonts-noto-cjk)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def visit_db(tmp_path_factory) -> str:
    """The server's visit store (the tests below save visits into it before opening the page)."""
    return f"sqlite:///{(tmp_path_factory.mktemp('db') / 'visits.db').as_posix()}"


@pytest.fixture(scope="module")
def server(visit_db):
    port = _free_port()
    env = dict(os.environ, POLICY_MATCH_DB_URL=visit_db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s: " + (proc.stdout.read().decode(errors="replace")[-2000:]))
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _record(name: str, seconds: float) -> None:
    path = OUTPUT / "timings.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[name] = round(seconds, 2)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def test_self_check_flow(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    t0 = time.perf_counter()
    page.goto(server)
    submit = page.get_by_role("button", name="开始匹配")
    submit.wait_for(timeout=60_000)
    _record("first_page_render_s", time.perf_counter() - t0)

    page.locator("textarea").first.fill("明年计划投入3000万上MES系统和自动化产线，建设数字化车间，设备联网")
    equipment = page.get_by_role("spinbutton", name="设备和软件投入", exact=False).first
    equipment.fill("3000")
    name = page.get_by_role("textbox", name="企业名称", exact=False).first
    name.fill("<script>alert(1)</script>古镇灯饰")
    t1 = time.perf_counter()
    submit.click()
    page.get_by_text("数字化智能化", exact=False).first.wait_for(timeout=60_000)
    _record("submit_to_results_s", time.perf_counter() - t1)
    _wait_for_advice(page)

    content = page.content()
    assert "Traceback" not in content
    body = page.inner_text("body")
    assert "设备和软件投入 3000万 × 20%" in body
    _assert_advice_layout(body)
    page.screenshot(path=str(OUTPUT / "self_check_form.png"))
    # Streamlit scrolls inside its own container: bring the result cards into view.
    page.get_by_text("竞争性最高可争取", exact=False).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUTPUT / "self_check_results.png"))
    page.close()


def _wait_for_advice(page) -> None:
    """Streamlit sends a run's elements as they are made: wait for the summary's metrics and the
    last section (the chart's heading) before reading the page."""
    for text in ("竞争性最高可争取", "推荐政策的估计金额"):
        page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)


def _assert_advice_layout(body: str) -> None:
    """What a firm reads first: the advice and its money, the deadline close by, the recommended
    cards; the services as a short list and the other policies collapsed after them."""
    for text in ("推荐申报", "可以预期", "竞争性最高可争取", "截止，还剩", "普遍适用的服务", "其他可了解的政策"):
        assert text in body, text
    assert body.index("竞争性最高可争取") < body.index("### 推荐申报" if "### 推荐申报" in body else "普遍适用的服务")
    assert body.index("推荐申报") < body.index("普遍适用的服务") < body.index("其他可了解的政策")


def test_self_check_on_a_phone(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True)
    page.goto(server)
    submit = page.get_by_role("button", name="开始匹配")
    submit.wait_for(timeout=60_000)
    page.locator("textarea").first.fill("明年投3000万上MES系统和自动化产线，建设数字化车间")
    page.get_by_role("spinbutton", name="设备和软件投入", exact=False).first.fill("3000")
    submit.click()
    _wait_for_advice(page)
    body = page.inner_text("body")
    assert "Traceback" not in page.content()
    _assert_advice_layout(body)
    # nothing wider than the phone: the cards and the summary wrap instead of scrolling sideways
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width
    page.get_by_text("竞争性最高可争取", exact=False).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUTPUT / "self_check_phone.png"))
    page.close()


def test_library_opens_a_policy(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page.goto(server)
    page.get_by_role("link", name="政策库").first.click()
    search = page.get_by_role("textbox", name="关键词搜索")
    search.wait_for(timeout=60_000)
    search.fill("搬迁")
    page.keyboard.press("Enter")
    # the relocation subsidy has ended: it is named as hidden, and shown when asked for
    page.get_by_text("未列出", exact=False).first.wait_for(timeout=30_000)
    page.get_by_text("搜索时也包括已结束的政策", exact=False).first.click()
    # The data grid keeps hidden copies of its cells; wait for text a reader can see.
    page.get_by_text("村镇低效工业园", exact=False).filter(visible=True).first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "村镇低效工业园" in body
    assert "Traceback" not in page.content()
    page.screenshot(path=str(OUTPUT / "library.png"), full_page=True)
    page.close()


# -- 走访助手 ------------------------------------------------------------------------------------

VISIT_FIRM = {
    "name": "古镇浏览器测试灯饰有限公司", "town": "古镇镇", "sector": "C",
    "industry": "灯饰照明制造", "above_scale": True, "annual_revenue_wan": 30000, "employees": 400,
    "qualifications": ["高新技术企业"], "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间",
    "equipment_software_investment_wan": 3000,
}
VISIT_AS_OF = "2026-12-01"
# Latin words a Chinese widget may show: product names users write, file kinds, the date mask.
LATIN_OK = {"MES", "ERP", "Word", "Excel", "YYYY", "MM", "DD"}
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")
# Material icons: Streamlit's icon element, and the ones markdown draws (tab labels, text).
ICON_SELECTOR = "[data-testid=stIconMaterial], [data-testid=stExpanderIcon], span[role=img][aria-label$=' icon']"
WIDGET_TEXT_JS = """() => {
  const ICON = "__ICON__";
  const sel = 'label, button, [role=tab], [role=option], [data-testid=InputInstructions], [data-testid=stWidgetLabel],'
    + ' summary, [data-testid=stFileUploader], [data-testid=stMetricLabel]';
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest(ICON)) out.push(n.textContent);
    }
  }
  for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]')) out.push(el.placeholder);
  return out.join('\\n');
}""".replace("__ICON__", ICON_SELECTOR)
ICONS_JS = """() => [...document.querySelectorAll("__ICON__")]
  .filter(e => e.offsetParent !== null && e.innerText.trim())
  .map(e => { const b = e.getBoundingClientRect(); return [e.innerText.trim(), b.width, b.height]; })""".replace(
    "__ICON__", ICON_SELECTOR)


def _seed_visit(visit_db: str, name: str, credit_code: str) -> str:
    """A visit of firm ``name`` saved on 2026-11-20 by an older policy base (its advice lacked the
    digital pilot). Returns the name."""
    from datetime import date

    from policy_match import match
    from policy_match import visits as vs

    firm = {**VISIT_FIRM, "name": name, "credit_code": credit_code}
    result = match(firm, as_of="2026-11-20").to_dict()
    visit = vs.visit_from_match(firm, result, base_version="older-base", visit_date=date(2026, 11, 20),
                                advisor="李四", notes="上次：老板关心技改补助和示范车间申报时间",
                                follow_up="送示范车间申报材料清单", follow_up_due=date(2026, 11, 25))
    summary = dict(visit.result_summary)
    summary["policies"] = [p for p in summary["policies"] if p["policy_id"] != "zs-2024-sme-digital-pilot"]
    engine = vs.get_engine(visit_db)
    vs.init_db(engine)
    if not vs.list_visits(engine, firm=name):
        vs.save_visit(engine, visit.model_copy(update={"result_summary": summary}))
    vs.dispose_engines()
    return name


def _open_visits(page, server: str) -> None:
    page.goto(f"{server}/visits")
    page.get_by_text("1. 选择企业").first.wait_for(timeout=60_000)
    date_box = page.locator("[data-testid=stDateInput] input").first  # 政策基准日, the page's first
    date_box.fill(VISIT_AS_OF.replace("-", "/"))
    date_box.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_timeout(1000)


def _pick_firm(page, name: str) -> None:
    page.get_by_role("combobox", name="调出已走访企业的上次信息，或从空白表单开始").click()
    page.get_by_role("option", name=name, exact=False).first.click()
    page.get_by_text("自上次走访以来的变化").first.wait_for(timeout=60_000)
    page.get_by_text("推荐政策的估计金额").first.wait_for(timeout=60_000)  # the last of the advice
    page.wait_for_timeout(500)


def _assert_chinese_widgets_and_icons(page) -> None:
    """No English widget text (labels, buttons, hints, placeholders) and no icon drawn as a box
    or as its name: the Material font is loaded, every icon is one glyph wide; no emoji."""
    text = page.evaluate(WIDGET_TEXT_JS)
    latin = {w for w in re.findall(r"[A-Za-z]{2,}", text)} - LATIN_OK
    assert not latin, (latin, text[:2000])
    assert page.evaluate("document.fonts.check('16px \"Material Symbols Rounded\"')")
    icons = page.evaluate(ICONS_JS)
    assert icons
    wide = [i for i in icons if i[1] > 1.5 * i[2]]
    assert not wide, wide  # a ligature name rendered as text is several glyphs wide
    assert not EMOJI.findall(page.inner_text("body"))
    assert "Traceback" not in page.content()


def _heading_top(page, text: str) -> float:
    return page.evaluate("""t => { const h = [...document.querySelectorAll('h3')].find(e => e.innerText.includes(t));
        const main = document.querySelector('[data-testid=stMain]');
        return h.getBoundingClientRect().top + (main ? main.scrollTop : 0) + window.scrollY; }""", text)


def _brief_text(download) -> str:
    import docx

    doc = docx.Document(str(download.path()))
    return "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])


def _notes_and_brief(page, notes: str) -> str:
    page.get_by_role("textbox", name="走访人").fill("张三")
    page.get_by_role("textbox", name="走访情况").fill(notes)
    page.get_by_role("textbox", name="跟进事项").fill("12 月 10 日前送申报材料")
    page.get_by_role("button", name="生成简报（不保存）").click()
    button = page.get_by_role("button", name="下载走访简报（Word）")
    button.wait_for(timeout=60_000)
    page.get_by_text("尚未保存", exact=False).first.wait_for(timeout=30_000)
    with page.expect_download(timeout=60_000) as got:
        button.click()
    return _brief_text(got.value)


def test_visit_page_on_a_desktop(server, browser, visit_db):
    firm = _seed_visit(visit_db, "古镇桌面测试灯饰有限公司", "91442000MA4UABCD3X")
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    _open_visits(page, server)
    _pick_firm(page, firm)
    body = page.inner_text("body")
    for text in ("上次：老板关心技改补助和示范车间申报时间", "跟进已逾期 6 天", "新增推荐", "临近截止", "走访后政策库已更新"):
        assert text in body, text
    _assert_chinese_widgets_and_icons(page)
    page.screenshot(path=str(OUTPUT / "visits_desktop_picked.png"))

    brief = _notes_and_brief(page, "桌面复访：MES 项目已立项")
    assert "桌面复访：MES 项目已立项" in brief and "12 月 10 日前送申报材料" in brief
    page.get_by_role("button", name="保存走访记录").click()
    page.get_by_text("已保存走访记录", exact=False).first.wait_for(timeout=60_000)
    _assert_chinese_widgets_and_icons(page)

    page.get_by_role("tab", name="走访记录").click()
    page.get_by_text("历史走访记录").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    # the history grid shows every column at 1440 px: nothing to scroll sideways to reach 跟进期限 / 状态
    grid = page.evaluate("""() => { const s = document.querySelector('[data-testid=stDataFrame] .dvn-scroller');
        return [s.scrollWidth, s.clientWidth]; }""")
    assert grid[0] <= grid[1] + 1, grid
    _assert_chinese_widgets_and_icons(page)
    page.screenshot(path=str(OUTPUT / "visits_desktop_history.png"))

    page.get_by_role("tab", name="提醒与回访").click()
    page.get_by_text("需要回访的企业").first.wait_for(timeout=30_000)
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="下载回访名单（Excel）").click()
    import openpyxl

    assert got.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(got.value.path().read_bytes()))
    rows = list(book["回访名单"].iter_rows(values_only=True))
    assert any(r[2] == firm for r in rows[1:])
    _assert_chinese_widgets_and_icons(page)
    page.get_by_role("button", name="下载回访名单（Excel）").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUTPUT / "visits_desktop_alerts.png"))
    page.close()


def test_visit_page_on_a_phone(server, browser, visit_db):
    firm = _seed_visit(visit_db, "古镇手机测试灯饰有限公司", "91442000MA4UABCD4X")
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True)
    _open_visits(page, server)
    _pick_firm(page, firm)
    # the notes come before the advice, within two screens of the top (not fifteen)
    notes, advice = _heading_top(page, "3. 走访记录与跟进"), _heading_top(page, "4. 政策建议")
    _record("phone_notes_heading_px", notes)
    assert notes < advice and notes < 2 * 844, (notes, advice)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    _assert_chinese_widgets_and_icons(page)
    page.screenshot(path=str(OUTPUT / "visits_phone_picked.png"))
    page.get_by_text("3. 走访记录与跟进").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUTPUT / "visits_phone_notes.png"))

    brief = _notes_and_brief(page, "手机复访：老板要示范车间材料")
    assert "手机复访：老板要示范车间材料" in brief
    page.get_by_role("button", name="下载走访简报（Word）").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUTPUT / "visits_phone_brief.png"))

    # the town's call-back list is one tap away, above any result card
    page.get_by_role("tab", name="提醒与回访").click()
    town = page.get_by_role("combobox", name="镇街", exact=True)
    town.click()
    town.fill("古镇")  # the list is long: type to find, as on a phone
    page.get_by_role("option", name="古镇镇", exact=True).click()
    page.get_by_text(firm, exact=False).filter(visible=True).first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "新增推荐" in body and "下载回访名单（Excel）" in body
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    _assert_chinese_widgets_and_icons(page)
    page.get_by_text(firm, exact=False).filter(visible=True).first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUTPUT / "visits_phone_alerts.png"))
    page.close()
