"""Real-browser tests: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Screenshots and the measured timings go to `test-output/browser/` (git-ignored). Skipped, with
the reason, where Chromium is not installed.
"""

from __future__ import annotations

import json
import os
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
def server(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, POLICY_MATCH_DB_URL=f"sqlite:///{tmp_path_factory.mktemp('db') / 'visits.db'}")
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
    # The data grid keeps hidden copies of its cells; wait for text a reader can see.
    page.get_by_text("搬迁", exact=False).filter(visible=True).first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "村镇低效工业园" in body
    assert "Traceback" not in page.content()
    page.screenshot(path=str(OUTPUT / "library.png"), full_page=True)
    page.close()
