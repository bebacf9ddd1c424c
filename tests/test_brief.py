"""The one-page Word visit brief (policy_match.brief)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import docx
import pytest
from docx.oxml.ns import qn

from policy_match import match
from policy_match.brief import CJK_FALLBACK, CJK_FONT, MAX_NEAR_MISSES, MAX_POLICIES, amount_text, visit_brief_docx
from policy_match.fields import format_value
from policy_match.visits import summarize_result

PROFILE = {
    "name": "古镇示例灯饰有限公司", "credit_code": "91442000MA4UABCD1X", "town": "古镇镇",
    "registered_in_zhongshan": True, "sector": "C", "industry": "灯饰照明制造", "above_scale": True,
    "annual_revenue_wan": 30000, "employees": 400, "credit_ok": True, "qualifications": ["高新技术企业"],
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间，设备联网",
    "equipment_software_investment_wan": 3000,
}
AS_OF = "2026-11-27"
NOTES = "企业计划明年上 MES；<b>老板</b>关心技改补助 & 用地"
FOLLOW_UP = "下周三前送申报材料清单，联系市工信局确认示范车间申报时间"


@pytest.fixture(scope="module")
def result():
    return match(PROFILE, as_of=AS_OF).to_dict()


@pytest.fixture(scope="module")
def brief(result):
    data = visit_brief_docx(PROFILE, result, advisor="张三", notes=NOTES, follow_up=FOLLOW_UP,
                            visit_date=date(2026, 11, 27), follow_up_due=date(2026, 12, 2))
    return docx.Document(io.BytesIO(data)), data


def all_text(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(c.text for c in row.cells)
    return "\n".join(parts)


def test_brief_is_a_docx(brief):
    doc, data = brief
    assert data[:2] == b"PK" and zipfile.is_zipfile(io.BytesIO(data))
    assert doc.paragraphs[0].text == "惠企政策走访简报"


def test_brief_names_the_firm_and_key_facts(brief):
    text = all_text(brief[0])
    revenue = format_value("annual_revenue_wan", PROFILE["annual_revenue_wan"])
    for fragment in ("古镇示例灯饰有限公司", "91442000MA4UABCD1X", "古镇镇", "灯饰照明制造", revenue, "400人",
                     "高新技术企业", "张三", "2026-11-27"):
        assert fragment in text, fragment


def test_brief_lists_the_recommended_policies_with_amount_validity_department(brief, result):
    doc = brief[0]
    recommended = [r for r in result["results"] if r["fit"] == "recommended"]
    assert recommended
    table = next(t for t in doc.tables if t.rows[0].cells[0].text == "政策")
    assert [c.text for c in table.rows[0].cells] == ["政策", "结论", "估计金额(万元)", "有效期", "主管部门"]
    body = table.rows[1:]
    assert len(body) == min(MAX_POLICIES, len(recommended))
    # each policy with the support items it is recommended for
    for row, p in zip(body, recommended, strict=False):
        items = [it["title"] for it in p["items"] if it["fit"] == "recommended"]
        assert row.cells[0].text.startswith(p.get("short_title") or p["title"])
        assert all(t in row.cells[0].text for t in items[:2]), (row.cells[0].text, items)
    assert {r.cells[1].text for r in body} <= {"可申请", "可能符合·待确认"}
    top = recommended[0]
    assert body[0].cells[2].text == amount_text(top["amount_wan"])
    assert body[0].cells[4].text == "中山市工业和信息化局"  # each department once
    # the pilot ends 2026-12-31: the brief says so, with the days left
    pilot = next(r for r in body if r.cells[0].text.startswith("中小企业数字化转型城市试点资金"))
    assert pilot.cells[3].text == "2026-12-31 截止，还剩 34 天"
    text = all_text(doc)
    assert result["summary"]["text"] in text
    assert result["summary"]["amount_wan"]["up_to_items"] == 2 and "竞争性奖补 2 项，各项上限合计" in text


def test_brief_near_misses_materials_contacts_notes(brief, result):
    doc = brief[0]
    text = all_text(doc)
    wanted = [m for r in result["results"] if r["fit"] == "recommended" for it in r["items"]
              if it["fit"] == "recommended" for m in it["how_to_apply"].get("materials", [])]
    assert (wanted[0] in text) if wanted else ("详见申报通知" in text)  # materials of the recommended items
    # no contact is published for these items: the department is named, and that it is not published
    assert "五、联系方式" in text and "中山市工业和信息化局（联系方式未公开）" in text
    assert "88315243" not in text  # the 2022 reply letter's contact is not these items' contact
    # ... while a 南头 e-commerce firm gets the contact published with the town's measures, under its own unit
    nantou = {"town": "南头镇", "sector": "F", "registered_in_zhongshan": True, "industry": "家电网络零售",
              "plans": "镇上家电厂成立的电商公司，在天猫抖音卖自家产品，去年网络零售额700万，今年首次进入社零统计"}
    nantou_brief = all_text(docx.Document(io.BytesIO(visit_brief_docx(nantou, match(nantou, as_of=AS_OF).to_dict()))))
    assert "南头镇经科局：李斯琴 0760-23380962" in nantou_brief
    assert "：南头镇经科局" not in nantou_brief  # a contact is never filed under another unit
    assert NOTES in text  # verbatim, HTML-looking text untouched
    assert FOLLOW_UP in text and "2026-12-02" in text


def test_brief_near_misses_for_a_small_maker_near_the_threshold():
    firm = dict(PROFILE, above_scale=False, annual_revenue_wan=1600, employees=60, qualifications=["专精特新中小企业"],
                plans="今年想评市级单项冠军培育，明年营收争取过2000万")
    result = match(firm, as_of=AS_OF).to_dict()
    data = visit_brief_docx(firm, result, advisor="张三", visit_date=date(2026, 11, 27))
    text = all_text(docx.Document(io.BytesIO(data)))
    near = result["near_misses"]
    if near:
        assert "差一点就能享受" in text
        for n in near[:MAX_NEAR_MISSES]:
            assert n["summary"] in text
        for n in near[MAX_NEAR_MISSES:]:
            assert n["summary"] not in text
    else:
        assert "差一点就能享受" not in text


def test_brief_footer_and_chinese_intact(brief):
    doc, data = brief
    footer = doc.sections[0].footer.paragraphs[0].text
    assert footer == f"金额为按公开政策条款估算，以主管部门审核为准；基准日 {AS_OF}"
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode("utf-8")
    assert "惠企政策走访简报" in xml and "古镇示例灯饰有限公司" in xml  # stored as real UTF-8 characters


def test_brief_page_set_up_and_cjk_font(brief):
    doc, data = brief
    section = doc.sections[0]
    assert abs(section.page_width.cm - 21.0) < 0.05 and abs(section.page_height.cm - 29.7) < 0.05
    assert section.left_margin.cm < 2.0 and section.top_margin.cm < 2.0
    rfonts = doc.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert rfonts.get(qn("w:eastAsia")) == CJK_FONT
    assert rfonts.get(qn("w:eastAsiaTheme")) is None
    font_table = zipfile.ZipFile(io.BytesIO(data)).read("word/fontTable.xml").decode("utf-8")
    assert f'w:name="{CJK_FONT}"' in font_table and f'w:val="{CJK_FALLBACK}"' in font_table


def test_brief_is_short(brief):
    doc = brief[0]
    rows = sum(len(t.rows) for t in doc.tables)
    assert len(doc.paragraphs) < 40 and len(doc.paragraphs) + rows < 80


def test_long_notes_are_clipped_but_brief_still_builds(result):
    data = visit_brief_docx(PROFILE, result, advisor=None, notes="很长的备注" * 500, follow_up=None, visit_date=None)
    doc = docx.Document(io.BytesIO(data))
    text = all_text(doc)
    assert "详见走访记录" in text and len(text) < 6000
    assert "走访人：未填写" in text and "跟进事项：无" in text


def test_brief_from_an_empty_match_and_from_a_saved_summary(result):
    empty = {"as_of": AS_OF, "results": [], "near_misses": []}
    doc = docx.Document(io.BytesIO(visit_brief_docx({"name": "空白企业"}, empty, advisor="李四", notes="",
                                                    follow_up="", visit_date="2026-11-01")))
    text = all_text(doc)
    assert "空白企业" in text and "暂无可以明确推荐的政策" in text and "详见申报通知" in text
    assert "差一点就能享受" not in text

    summary = summarize_result(result)  # a reopened visit: no items, so no materials or contacts
    doc = docx.Document(io.BytesIO(visit_brief_docx(PROFILE, summary, advisor="张三", notes="复访",
                                                    follow_up="", visit_date="2026-12-01")))
    text = all_text(doc)
    assert summary["policies"] == summarize_result(result)["policies"]
    assert "详见申报通知" in text and "复访" in text


def test_amount_text():
    assert amount_text(None) == "非资金类或未公开"
    assert amount_text({"low": 0, "high": 600}) == "最高 600"
    assert amount_text({"low": 50, "high": 200}) == "50–200"
    assert amount_text({"low": 30, "high": 30}) == "30"
    assert amount_text({"low": 0, "high": 0}) == "—"
    assert amount_text({"low": 0, "high": 12.5}) == "最高 12.5"


BUSY_FIRM = {
    "name": "中山市古镇镇示例灯饰照明科技股份有限公司", "credit_code": "91442000MA4UABCD1X", "town": "古镇镇",
    "registered_in_zhongshan": True, "sector": "C", "industry": "灯饰照明制造", "above_scale": True,
    "annual_revenue_wan": 30000, "revenue_growth_pct": 12, "employees": 400, "rd_expense_wan": 900,
    "local_contribution_wan": 800, "planned_investment_wan": 6000, "credit_ok": True,
    "qualifications": ["高新技术企业", "专精特新中小企业"], "equipment_software_investment_wan": 3000,
    "plans": "明年投3000万上MES系统和自动化产线，建设数字化车间，设备联网，购地扩产，跨境电商独立站，启动股改准备上市",
    "cross_border_ecommerce": True,
}


def _pdf_pages(docx_bytes: bytes, tmp_path) -> int:
    import re
    import shutil
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    source = tmp_path / "brief.docx"
    source.write_bytes(docx_bytes)
    proc = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                           "--outdir", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    pdf = tmp_path / "brief.pdf"
    if not pdf.exists():
        pytest.skip(f"LibreOffice could not convert the brief (Writer not installed?): {proc.stderr[-300:]}")
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))


@pytest.mark.slow
def test_the_busiest_brief_with_the_longest_notes_is_one_a4_page(tmp_path):
    """The firm with the most recommended policies in the data, the notes and follow-up as long as
    the form takes them: still one page (as LibreOffice lays it out)."""
    result = match(BUSY_FIRM, as_of=AS_OF).to_dict()
    assert result["summary"]["recommended"] >= 5  # the busy case this test is about
    data = visit_brief_docx(BUSY_FIRM, result, advisor="张三", notes="走" * 5000, follow_up="跟" * 2000,
                            visit_date=date(2026, 11, 27), follow_up_due=date(2026, 12, 10))
    assert _pdf_pages(data, tmp_path) == 1


def test_brief_shows_numbers_typed_with_units_once():
    """A profile typed as people write it ("5亿", "3000万") is shown in the matcher's reading,
    with one unit: never "5亿万"."""
    profile = {"name": "甲公司", "town": "小榄", "sector": "C", "annual_revenue_wan": "5亿", "rd_expense_wan": "3000万"}
    doc = docx.Document(io.BytesIO(visit_brief_docx(profile, match(profile, as_of="2026-12-01").to_dict())))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    assert cells[cells.index("上年度营业收入") + 1] == format_value("annual_revenue_wan", 50000)
    assert cells[cells.index("上年度研发费用") + 1] == format_value("rd_expense_wan", 3000)
    assert cells[cells.index("所在镇街") + 1] == "小榄镇"
    assert not [c for c in cells if "亿万" in c or "万万" in c]
