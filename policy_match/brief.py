"""A one-page Word brief (惠企政策走访简报) an advisor leaves with the firm after a visit.

Built from a profile and ``match(...).to_dict()`` (a saved visit's compact summary works
too: it has no items, so the documents and contacts sections fall back to their defaults).
Chinese text uses an East Asian font set on the styles (``w:eastAsia``) with a font-table
substitute, so the file reads the same in Word, WPS and LibreOffice.
"""

from __future__ import annotations

import contextlib
import io
from datetime import date, datetime
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from lxml import etree

from .advice import NOTHING_POINTS
from .fields import PROFILE_FIELDS, format_value
from .profile import ProfileError, parse_profile
from .wording import STATUS_ZH, VALIDITY_ZH, departments, money_lines
from .xml_text import xml_safe, xml_safe_data

CJK_FONT = "Noto Sans CJK SC"
CJK_FALLBACK = "SimSun"
LATIN_FONT = "Arial"
MAX_POLICIES = 6
MAX_NEAR_MISSES = 3
MAX_MATERIALS = 6
MAX_CONTACTS = 3
# Notes / follow-up beyond this are cut in the brief (the record keeps all): with six policies,
# three near misses and the firm's facts, longer text would push the brief onto a second page.
MAX_NOTES_TEXT = 150
MAX_FOLLOW_UP_TEXT = 100
VISIT_TEXT_PT = 9

_KEY_NUMBERS = (
    "annual_revenue_wan", "revenue_growth_pct", "employees", "rd_expense_wan", "local_contribution_wan",
    "planned_investment_wan", "equipment_software_investment_wan",
)


# -- formatting helpers ------------------------------------------------------------------

def _num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def amount_text(amount: dict[str, Any] | None) -> str:
    """A policy's amount range in 万元 as a table cell: 最高 600 / 50–200 / 非资金类或未公开."""
    if not amount or amount.get("high") is None:
        return "非资金类或未公开"
    low, high = amount.get("low") or 0, amount["high"]
    if not high:
        return "—"
    if low == high:
        return _num(high)
    if not low:
        return f"最高 {_num(high)}"
    return f"{_num(low)}–{_num(high)}"


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…（详见走访记录）"


def _as_date(value: Any) -> str:
    if value is None or value == "":
        return date.today().isoformat()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# -- document set-up ----------------------------------------------------------------------

def _set_run_fonts(rpr_parent, size: float | None = None, bold: bool | None = None) -> None:
    """East Asian + Latin font on a style or run (``rpr_parent`` has ``.font`` and ``.element``)."""
    font = rpr_parent.font
    font.name = LATIN_FONT
    if size is not None:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    rpr = rpr_parent.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)  # a theme font would override the names below
    rfonts.set(qn("w:ascii"), LATIN_FONT)
    rfonts.set(qn("w:hAnsi"), LATIN_FONT)
    rfonts.set(qn("w:eastAsia"), CJK_FONT)
    rfonts.set(qn("w:hint"), "eastAsia")
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def _register_cjk_fallback(doc) -> None:
    """Declare the CJK font in the font table with SimSun as its substitute (``w:altName``)
    and the GB2312 charset, so Word/WPS without Noto pick SimSun rather than a Japanese font."""
    part = next((p for p in doc.part.package.iter_parts() if str(p.partname).endswith("/fontTable.xml")), None)
    if part is None:
        return
    try:
        element = getattr(part, "_element", None)
        root = element if element is not None else etree.fromstring(part.blob)
        w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

        def font(name: str, alt: str | None, family: str) -> etree._Element:
            el = etree.SubElement(root, f"{{{w}}}font", {f"{{{w}}}name": name})
            if alt:
                etree.SubElement(el, f"{{{w}}}altName", {f"{{{w}}}val": alt})
            etree.SubElement(el, f"{{{w}}}charset", {f"{{{w}}}val": "86"})
            etree.SubElement(el, f"{{{w}}}family", {f"{{{w}}}val": family})
            etree.SubElement(el, f"{{{w}}}pitch", {f"{{{w}}}val": "variable"})
            return el

        font(CJK_FONT, CJK_FALLBACK, "swiss")
        font(CJK_FALLBACK, "宋体", "auto")
        if element is None:
            part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    except Exception:  # noqa: BLE001 - the substitute is a nicety; the brief works without it
        return


def _new_document():
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)  # A4
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.27))  # Word's "narrow" margins
    section.header_distance = section.footer_distance = Cm(0.8)
    styles = doc.styles
    _set_run_fonts(styles["Normal"], size=10)
    pf = styles["Normal"].paragraph_format
    pf.space_before, pf.space_after, pf.line_spacing = Pt(0), Pt(2), 1.1
    for name, size in (("Title", 16), ("Heading 1", 12), ("Heading 2", 11)):
        _set_run_fonts(styles[name], size=size, bold=True)
        styles[name].font.color.rgb = RGBColor(0x1F, 0x1F, 0x1F)
        styles[name].paragraph_format.space_before = Pt(4 if name != "Title" else 0)
        styles[name].paragraph_format.space_after = Pt(3)
    for name in ("List Bullet", "Table Grid"):
        _set_run_fonts(styles[name])
    _register_cjk_fallback(doc)
    return doc


def _heading(doc, text: str):
    return doc.add_paragraph(text, style="Heading 1")


def _bullet(doc, text: str):
    p = doc.add_paragraph(style="List Bullet")
    p.add_run(text).font.size = Pt(VISIT_TEXT_PT)
    p.paragraph_format.space_after = Pt(0)
    return p


def _cell(cell, text: str, *, bold: bool = False, size: float = 9) -> None:
    cell.text = ""
    par = cell.paragraphs[0]
    par.paragraph_format.space_after = Pt(0)
    run = par.add_run(text)
    run.font.size = Pt(size)
    run.bold = bold


def _shade(cell, fill: str = "E8EEF4") -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def _table(doc, header: list[str], rows: list[list[str]], widths_cm: list[float]):
    table = doc.add_table(rows=1, cols=len(header))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for i, text in enumerate(header):
        _cell(table.rows[0].cells[i], text, bold=True)
        _shade(table.rows[0].cells[i])
    for row in rows:
        cells = table.add_row().cells
        for i, text in enumerate(row):
            _cell(cells[i], text)
    # Both the grid (what LibreOffice and WPS lay out by) and every cell (what Word reads).
    for i, width in enumerate(widths_cm):
        table.columns[i].width = Cm(width)
    for row in table.rows:
        for i, width in enumerate(widths_cm):
            row.cells[i].width = Cm(width)
    return table


# -- content selection -------------------------------------------------------------------

def _usable(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The policies the firm is advised to act on (``fit`` recommended), best first. A match
    result keeps them under ``results``, a saved visit summary under ``policies``; a visit saved
    before the advice layer has no ``fit``, and then its eligible and possible policies count."""
    policies = result.get("results") or result.get("policies") or []
    if any("fit" in r and r["fit"] is not None for r in policies):
        return [r for r in policies if r.get("fit") == "recommended"]
    return [r for r in policies if r.get("status") in {"eligible", "possible"}]


def _usable_items(policy: dict[str, Any]) -> list[dict[str, Any]]:
    items = policy.get("items", [])
    if any("fit" in it for it in items):
        return [it for it in items if it.get("fit") == "recommended"]
    return [it for it in items if it.get("status") in {"eligible", "possible"}]


def _department(policy: dict[str, Any]) -> str:
    return "；".join(departments(policy, _usable_items(policy) or None)) or "—"


def _validity_cell(policy: dict[str, Any]) -> str:
    if policy.get("deadline_warning"):
        return policy["deadline_warning"]
    if policy.get("deadline") and policy.get("validity") == "current":
        return f"{policy['deadline']} 截止"
    return VALIDITY_ZH.get(policy.get("validity"), "") or "—"


def materials(policies: list[dict[str, Any]], limit: int = MAX_MATERIALS) -> list[str]:
    """Documents named in the how-to-apply of eligible/possible items, first mention first."""
    out: list[str] = []
    for pol in policies:
        for it in _usable_items(pol):
            for m in (it.get("how_to_apply") or {}).get("materials", []):
                m = str(m).strip()
                if m and m not in out:
                    out.append(m)
    return out[:limit]


def contacts(policies: list[dict[str, Any]], limit: int = MAX_CONTACTS) -> list[str]:
    """Whom to call for the shown items: the documented contact under its own department, or
    the department with "联系方式未公开" — each department once."""
    out: list[str] = []
    seen: set[str] = set()
    for pol in policies:
        for it in _usable_items(pol):
            dept = it.get("department") or pol.get("department") or ""
            contact = it.get("contact")
            if contact:
                line = contact  # a contact names its own unit ("南头镇经科局：李斯琴 …")
            elif dept:
                line = f"{dept}（联系方式未公开）"
            else:
                continue
            key = dept or line
            if key in seen:
                continue
            seen.add(key)
            out.append(line)
    return out[:limit]


def _firm_lines(profile: dict[str, Any]) -> list[tuple[str, str]]:
    # The values as the matcher read them ("5亿" → 50000 万元), not as typed: format_value adds
    # the unit, and a typed "5亿" would print as "5亿万". A profile that no longer parses (an
    # older store) is shown as it was given.
    with contextlib.suppress(ProfileError):
        profile = {**profile, **parse_profile(profile).profile.model_dump(exclude_none=True)}
    sector = profile.get("sector")
    industry = "；".join(x for x in (format_value("sector", sector) if sector else "", profile.get("industry") or "") if x)
    rows = [
        ("企业名称", profile.get("name") or "未填写"),
        ("统一社会信用代码", profile.get("credit_code") or "未填写"),
        ("所在镇街", profile.get("town") or "未填写"),
        ("行业", industry or "未填写"),
    ]
    if profile.get("above_scale") is not None:
        rows.append(("规模以上企业", format_value("above_scale", profile["above_scale"])))
    for name in _KEY_NUMBERS:
        if profile.get(name) not in (None, ""):
            rows.append((PROFILE_FIELDS[name].label, format_value(name, profile[name])))
    if profile.get("qualifications"):
        rows.append(("资质与认定", format_value("qualifications", profile["qualifications"])))
    return rows


# -- the brief ------------------------------------------------------------------------------

def visit_brief_docx(profile: dict[str, Any], result: dict[str, Any], *, advisor: str | None = None,
                     notes: str | None = None, follow_up: str | None = None, visit_date: Any = None,
                     follow_up_due: Any = None) -> bytes:
    """The brief as .docx bytes. ``result`` is ``match(...).to_dict()`` (or a visit's summary)."""
    # Every string reaches the document through here: drop what XML cannot hold (a vertical tab
    # pasted from Word), so that a visit saved with one still gets its brief.
    profile, result = xml_safe_data(profile), xml_safe_data(result)
    advisor, notes, follow_up = (xml_safe(x) if isinstance(x, str) else x for x in (advisor, notes, follow_up))
    visit_date, follow_up_due = (xml_safe(x) if isinstance(x, str) else x for x in (visit_date, follow_up_due))
    doc = _new_document()
    as_of = result.get("as_of") or _as_date(visit_date)
    day = _as_date(visit_date)

    title = doc.add_paragraph("惠企政策走访简报", style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    meta = doc.add_paragraph()
    meta.alignment = WD_ALIGN_PARAGRAPH.CENTER
    meta.add_run(f"走访日期：{day}　　走访人：{(advisor or '').strip() or '未填写'}　　政策基准日：{as_of}").font.size = Pt(9)

    # firm
    _heading(doc, "一、企业概况")
    lines = _firm_lines(profile)
    firm_rows = []
    for i in range(0, len(lines), 2):
        right = lines[i + 1] if i + 1 < len(lines) else ("", "")
        firm_rows.append([*lines[i], *right])
    table = _table(doc, ["项目", "内容", "项目", "内容"], firm_rows, [3.8, 5.4, 3.8, 5.4])
    for row in table.rows:
        for i in (0, 2):
            for run in row.cells[i].paragraphs[0].runs:
                run.bold = True

    # policies
    usable = _usable(result)
    shown = usable[:MAX_POLICIES]
    _heading(doc, "二、推荐申报的政策")
    summary = result.get("summary") or {}
    if summary.get("text"):
        doc.add_paragraph(summary["text"]).runs[0].font.size = Pt(9.5)
    if shown:
        rows = []
        for pol in shown:
            status = STATUS_ZH.get(pol["status"], pol["status"])
            if pol.get("validity") == "expired":  # only when the caller asked to keep expired ones
                status += f"（{VALIDITY_ZH['expired']}）"
            # which support items, and the validity of the first of them (a policy can be in force
            # while the item the firm is pointed to awaits its next round)
            items = [it for it in pol.get("items") or [] if it.get("fit") == "recommended"]
            name = pol.get("short_title") or pol["title"]
            if items:
                name += "：" + "、".join(it["title"] for it in items[:2]) + ("等" if len(items) > 2 else "")
            rows.append([name, status, amount_text(pol.get("amount_wan")), _validity_cell(items[0] if items else pol),
                         _department(pol)])
        _table(doc, ["政策", "结论", "估计金额(万元)", "有效期", "主管部门"], rows, [6.0, 3.0, 2.4, 3.4, 3.6])
        if len(usable) > len(shown):
            doc.add_paragraph(f"另有 {len(usable) - len(shown)} 项推荐政策，详见系统匹配结果。").runs[0].font.size = Pt(9)
        money = [line for line in money_lines(summary) if not line.startswith("未计入")]
        note = "；".join(money) + "。" if money else ""
        doc.add_paragraph(note + "“可能符合·待确认”表示尚有条件需企业补充信息或由主管部门核实。").runs[0].font.size = Pt(8)
    else:
        # a visit saved before fill_in existed does not say what was blank: the general advice
        fill_in = summary.get("fill_in", ["企业规模", "资质", "发展计划"])
        doc.add_paragraph("按目前填写的信息，暂无可以明确推荐的政策；"
                          + (f"补充{'、'.join(fill_in)}后可再次匹配。" if fill_in else f"{NOTHING_POINTS}。"))

    # near misses
    near = result.get("near_misses") or []
    if near:
        _heading(doc, "三、差一点就能享受")
        for n in near[:MAX_NEAR_MISSES]:
            _bullet(doc, n.get("summary") or n.get("title") or "")

    # documents and contacts
    _heading(doc, "四、建议提前准备的材料")
    docs = materials(shown)
    if docs:
        _bullet(doc, "、".join(docs) + "（以当年申报通知为准）")
    else:
        _bullet(doc, "详见申报通知")
    _heading(doc, "五、联系方式")
    lines_c = contacts(shown)
    if lines_c:
        for line in lines_c:
            _bullet(doc, line)
    else:
        _bullet(doc, "请向上表所列主管部门咨询，或拨打 12345 政务服务热线")

    # advisor's part
    _heading(doc, "六、走访记录与跟进")
    # (走访人 and 走访日期 head the brief.)
    for label, text, limit, due in (("走访情况：", notes, MAX_NOTES_TEXT, None),
                                    ("跟进事项：", follow_up, MAX_FOLLOW_UP_TEXT, follow_up_due)):
        p = doc.add_paragraph()
        runs = [p.add_run(label), p.add_run(_clip(text or "", limit) or "无")]
        runs[0].bold = True
        if due:
            runs.append(p.add_run(f"（期限：{_as_date(due)}）"))
        for run in runs:
            run.font.size = Pt(VISIT_TEXT_PT)

    # footer
    footer = doc.sections[0].footer.paragraphs[0]
    footer.text = ""
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = footer.add_run(f"金额为按公开政策条款估算，以主管部门审核为准；基准日 {as_of}")
    run.font.size = Pt(8)
    _set_run_fonts(doc.styles["Footer"])

    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
