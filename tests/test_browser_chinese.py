"""Chromium at a desktop (1440 px) and a phone (390 px) width: no English widget text on the
self-check, library and batch pages, the form in order on a phone, the library's columns on
screen. Screenshots go to `test-output/browser/` (git-ignored)."""

from __future__ import annotations

import pytest

from . import test_browser as _browser_module  # skips this module too where Chromium is missing

pytestmark = pytest.mark.browser

# the same fixtures: one `streamlit run app.py` (with its visit store), one Chromium
visit_db = _browser_module.visit_db
server = _browser_module.server
browser = _browser_module.browser
OUTPUT = _browser_module.OUTPUT

# What Streamlit 1.4x–1.6x writes by itself in English on these pages (its widgets' own texts).
STREAMLIT_ENGLISH = (
    "Upload", "Drag and drop", "per file", "Browse files", "text/csv", "application/vnd", "Press Enter",
    "Press Ctrl", "Press ⌘", "submit form", "to apply", "Choose an option", "No results", "files are not allowed",
    "Add files", "Remove", "Running", "Stop", "Deploy", "Download as", "Fullscreen", "Error",
)

# Every text a reader can see: visible text nodes (not icon ligatures, not screen-reader-only
# text of 1 px) and the CSS ``content`` that replaces Streamlit's English.
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement, text = walker.currentNode.textContent.trim();
    if (!text || !el || el.closest('[data-testid="stIconMaterial"], script, style')) continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 1 && r.height > 1) out.push(text);
  }
  for (const el of document.querySelectorAll('*')) {
    for (const pseudo of ['::before', '::after']) {
      const c = getComputedStyle(el, pseudo).content;
      if (c && c.startsWith('"') && c.length > 3 && el.checkVisibility()) out.push(c.slice(1, -1));
    }
  }
  return out;
}"""


def english_on_page(page) -> list[str]:
    texts = page.evaluate(VISIBLE_TEXT)
    return sorted({t for t in texts for word in STREAMLIT_ENGLISH if word in t})


def open_page(browser, server, width: int, path: str, ready: str):
    phone = width < 500
    page = browser.new_page(viewport={"width": width, "height": 844 if phone else 900}, locale="zh-CN",
                            is_mobile=phone, has_touch=phone)
    page.goto(f"{server}/{path}")
    page.get_by_text(ready, exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    return page


@pytest.mark.parametrize("width", [1440, 390])
def test_self_check_has_no_english_and_a_phone_form_in_order(server, browser, width):
    from policy_match.fields import FORM_SECTIONS, field_heading

    page = open_page(browser, server, width, "", "开始匹配")
    name = page.get_by_role("textbox", name="企业名称", exact=False).first
    name.fill("顺序公司")  # a dirty input would show "Press Enter to submit form" in a form that submits on Enter
    assert english_on_page(page) == []
    # the two open sections read top to bottom in the form's order, a pair side by side or stacked
    for section in ("基本信息", "发展计划与投资"):
        labels = [field_heading(n) for row in FORM_SECTIONS[section] for n in row]
        tops = []
        for label in labels:
            box = page.locator('[data-testid="stWidgetLabel"]', has_text=label).first.bounding_box()
            assert box is not None, label
            tops.append((round(box["y"]), round(box["x"])))
        assert tops == sorted(tops), (section, list(zip(labels, tops, strict=True)))
    page.screenshot(path=str(OUTPUT / f"chinese_self_check_form_{width}.png"))
    page.locator("textarea").first.fill("明年计划投入3000万上MES系统，建设数字化车间")
    page.get_by_role("button", name="开始匹配").click()
    page.get_by_text("推荐政策的估计金额", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert english_on_page(page) == []
    page.get_by_text("推荐政策的估计金额", exact=False).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUTPUT / f"chinese_self_check_results_{width}.png"))
    page.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_library_has_no_english_and_its_columns_fit(server, browser, width):
    page = open_page(browser, server, width, "library", "关键词搜索")
    search = page.get_by_role("textbox", name="关键词搜索")
    search.fill("独立")  # typed, not yet applied: Streamlit's "Press Enter to apply" would show now
    page.wait_for_timeout(300)
    assert english_on_page(page) == []
    search.fill("独立站")
    page.keyboard.press("Enter")
    page.get_by_text("跨境电商独立站建设资助", exact=False).filter(visible=True).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    body = page.inner_text("body")
    assert "未公开 至 未公开" not in body
    assert english_on_page(page) == []
    if width == 1440:  # every column on screen: the grid does not scroll sideways
        widths = page.evaluate("""() => Array.from(document.querySelectorAll(
            '[data-testid="stDataFrame"] .dvn-scroller')).map(e => [e.scrollWidth, e.clientWidth])""")
        assert widths and all(scroll <= client + 1 for scroll, client in widths), widths
    page.screenshot(path=str(OUTPUT / f"chinese_library_{width}.png"))
    page.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_batch_page_has_no_english(server, browser, width, tmp_path):
    page = open_page(browser, server, width, "batch", "上传企业名单")
    assert english_on_page(page) == []
    texts = page.evaluate(VISIBLE_TEXT)
    assert "选择文件" in texts and any("单个文件不超过 50 MB" in t for t in texts)
    # a file dragged over the box: Streamlit's "Drag and drop a file here" is replaced
    page.evaluate("""() => { const box = document.querySelector('[data-testid="stFileUploaderDropzone"]');
        const data = new DataTransfer(); data.items.add(new File(['a'], 'a.csv', {type: 'text/csv'}));
        box.dispatchEvent(new DragEvent('dragenter', {dataTransfer: data, bubbles: true})); }""")
    page.wait_for_timeout(300)
    assert english_on_page(page) == [] and "松开鼠标即可上传" in page.evaluate(VISIBLE_TEXT)
    page.evaluate("""() => document.querySelector('[data-testid="stFileUploaderDropzone"]')
        .dispatchEvent(new DragEvent('dragleave', {bubbles: true}))""")
    # a file of another type: refused in the browser, said in Chinese
    pdf = tmp_path / "名单.pdf"
    pdf.write_bytes(b"%PDF-1.4 not a table")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(pdf))
    page.locator('[data-testid="stFileChip"]').first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert english_on_page(page) == []
    assert any("无法上传" in t for t in page.evaluate(VISIBLE_TEXT))
    page.locator('[data-testid="stFileChipDeleteBtn"] button').first.click()
    page.wait_for_timeout(500)
    # a real list with the headers people write, matched
    csv_path = tmp_path / "企业名单.csv"
    csv_path.write_text("企业名称,所在镇区,营业收入（亿元）,员工人数,发展计划\n"
                        "古镇灯饰,古镇,1.2,80,上MES建设数字化车间\n", encoding="utf-8-sig")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(csv_path))
    page.get_by_text("已换算为万元", exact=False).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="开始匹配").click()
    page.get_by_text("下载结果工作簿", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert english_on_page(page) == []
    page.screenshot(path=str(OUTPUT / f"chinese_batch_{width}.png"), full_page=True)
    page.close()
