"""Shared UI code for the pages: cached resources, the profile form, result cards, batch helpers.

Pages only call the package (``policy_match``); nothing here decides eligibility or amounts.
Every piece of user-supplied text (firm name, plans, a rejected value) goes through
:func:`md` before it reaches markdown, so it shows as text and is never interpreted as
markup; no element is rendered with ``unsafe_allow_html``.

Reused by the visits page:

- ``profile_form(key_prefix, defaults) -> dict | None``: the raw profile dict on submit;
- ``run_match(raw, as_of=..., include_expired=...) -> dict`` (raises ``ProfileError``);
- ``render_profile_problems(problems)``: the Chinese error box for a ``ProfileError``;
- result rendering is in ``app_pages.cards`` (``render_results``).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any
from urllib.parse import quote, urlsplit

import pandas as pd
import streamlit as st

from policy_match.fields import (
    FIELD_HELP,
    FORM_SECTIONS,
    LISTING_STAGES,
    PROFILE_FIELDS,
    QUALIFICATIONS,
    SECTORS,
    TOWNS,
    field_heading,
    field_label,
)
from policy_match.io import (
    ERROR_COLUMNS,
    TOWN_COLUMNS,
    BatchInput,
    BatchResult,
    InputError,
    read_batch,
    run_batch,
    template_frame,
    town_rows,
    write_template,
    write_workbook,
)
from policy_match.knowledge import KnowledgeBase, bundled_knowledge_base
from policy_match.matcher import Matcher, default_matcher
from policy_match.profile import FieldProblem, ProfileError, parse_profile
from policy_match.tables import clip

# --------------------------------------------------------------------------------------
# Cached resources
# --------------------------------------------------------------------------------------

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="正在加载政策库与检索索引…")
def get_matcher() -> Matcher:
    """The fitted matcher over the bundled policies, shared by all sessions."""
    return default_matcher()


@st.cache_resource(show_spinner=False)
def get_knowledge_base() -> KnowledgeBase:
    return bundled_knowledge_base()


# --------------------------------------------------------------------------------------
# Chinese labels
# --------------------------------------------------------------------------------------

UNSET = "未填写"
YES_NO = (UNSET, "是", "否")
VALIDITY_COLOR = {"current": "green", "expired": "red", "unknown": "orange"}  # one colour per status on every page
PACKAGE_ZH = {"confirmed": "是（已确认）", "probable": "很可能", "no": "否"}
LEVEL_ZH = {"city": "市级", "province": "省级", "town": "镇街级"}
CONFIDENCE_ZH = {
    "primary": "高（依据政策原文）",
    "secondary": "中（依据权威转载或官方解读）",
    "partial": "部分（公开信息不完整）",
}
APPLICANT_ZH = {
    "enterprise": "企业", "platform": "平台运营方", "park_operator": "园区运营主体",
    "town_government": "镇街政府", "government": "政府部门（企业不直接申报）", "individual": "个人",
}

# --------------------------------------------------------------------------------------
# Plain text in markdown
# --------------------------------------------------------------------------------------

_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md(text: object) -> str:
    """Escape every ASCII punctuation mark so markdown shows ``text`` literally.

    ``<script>alert(1)</script>`` becomes ``\\<script\\>alert\\(1\\)\\</script\\>``: shown
    as typed, never parsed as HTML, a link, emphasis, LaTeX (``$``) or a colour directive.
    """
    return _MD_PUNCT.sub(r"\\\1", str(text)).replace("\n", "  \n")


def link(src: str, label: str | None = None) -> str:
    """A markdown link to a source URL; a non-URL source (a 文号) is shown as text."""
    if not src.startswith(("http://", "https://")):
        return md(src)
    url = quote(src, safe=":/?&=#%~+,;@!$*'")
    return f"[{md(label or urlsplit(src).netloc or src)}]({url.replace('(', '%28').replace(')', '%29')})"


# --------------------------------------------------------------------------------------
# The profile form
# --------------------------------------------------------------------------------------


def _field_label(name: str) -> str:
    return field_heading(name)


def normalise_defaults(defaults: dict[str, Any] | None) -> dict[str, Any]:
    """Pre-fill values in the profile's own types (是 → True, 古镇 → 古镇镇, 高企 → 高新技术企业).
    A value the package rejects is dropped (the field shows as 未填写), the others are kept."""
    data = {k: v for k, v in (defaults or {}).items() if k in PROFILE_FIELDS}
    while data:
        try:
            return parse_profile(data).profile.known()
        except ProfileError as exc:
            bad = {p.field for p in exc.problems} & data.keys()
            if not bad:
                return {}
            data = {k: v for k, v in data.items() if k not in bad}
    return {}


def _select(key: str, name: str, options: list, value: object, fmt: Callable[[Any], str] | None = None):
    index = options.index(value) if value in options else 0
    return st.selectbox(_field_label(name), options, index=index, key=key, help=FIELD_HELP.get(name),
                        format_func=fmt or str)


def _widget(prefix: str, name: str, d: dict[str, Any]) -> Any:
    """Render one field's input and return its raw widget value."""
    info = PROFILE_FIELDS[name]
    key, value, label, help_ = f"{prefix}_{name}", d.get(name), _field_label(name), FIELD_HELP.get(name)
    if name == "town":
        return _select(key, name, [UNSET, *TOWNS], value)
    if name == "sector":
        return _select(key, name, [UNSET, *SECTORS], value,
                       lambda c: c if c == UNSET else f"{c} {SECTORS[c]}")
    if name == "listing_stage":
        return _select(key, name, [UNSET, *LISTING_STAGES], value,
                       lambda c: c if c == UNSET else LISTING_STAGES[c])
    if name == "digital_level":
        return _select(key, name, [UNSET, 1, 2, 3, 4], value, lambda c: c if c == UNSET else f"{c} 级")
    if name == "qualifications":
        chosen = [q for q in (value or []) if q in QUALIFICATIONS]
        return st.multiselect(label, QUALIFICATIONS, default=chosen, key=key, placeholder="可多选；不填视为未知",
                              help="已取得的认定或入库资格")
    if info.kind == "bool":
        return _select(key, name, list(YES_NO), {True: "是", False: "否"}.get(value, UNSET))
    if info.kind == "int":
        return st.number_input(label, value=None if value is None else int(value), step=1, format="%d", key=key,
                               placeholder=UNSET, help=help_)
    if info.kind == "float":
        return st.number_input(label, value=None if value is None else float(value), step=1.0, format="%.2f",
                               key=key, placeholder=UNSET, help=help_)
    if name == "plans":
        return st.text_area(label, value=value or "", key=key, height=220, help=help_,
                            placeholder="例如：明年计划投入 3000 万元上 MES 系统和自动化产线，建设数字化车间；"
                                        "考虑在本市购地扩产，启动股改准备上市。")
    return st.text_input(label, value=value or "", key=key, help=help_, placeholder=UNSET)


def _collect(values: dict[str, Any], no_qualifications: bool) -> dict[str, Any]:
    """Widget values → the raw profile dict; 未填写 / empty / None are left out (= unknown)."""
    raw: dict[str, Any] = {}
    for name, value in values.items():
        kind = PROFILE_FIELDS[name].kind
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if kind in {"bool", "choice"} or name == "digital_level":
            if value == UNSET:
                continue
            if kind == "bool":
                value = value == "是"
        if name == "qualifications" and not value:
            if no_qualifications:
                raw[name] = []
            continue
        raw[name] = value
    return raw


def profile_form(key_prefix: str, defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The enterprise profile form. Returns the raw profile dict (contract field names, only the
    fields filled in) when submitted, else ``None``. Widget keys are ``f"{key_prefix}_{field}"``;
    pass a different ``key_prefix`` to show a fresh form pre-filled with other ``defaults``.

    Fields come in the order a firm thinks (``FORM_SECTIONS``), one row at a time: a row holds one
    field, or two that belong together, so a phone — which stacks a row's columns — shows them in
    the same order. Enter in a box does not submit the half-filled form (``enter_to_submit=False``);
    only the button does."""
    d = normalise_defaults(defaults)
    values: dict[str, Any] = {}
    no_quals = False
    with st.form(key=f"{key_prefix}_form", clear_on_submit=False, border=True, enter_to_submit=False):
        st.caption("所有项目均为选填。未填写的项目按“待确认”处理，不会被当作“否”或 0。金额单位：万元。")
        for section, rows in FORM_SECTIONS.items():
            with st.expander(section, expanded=section in {"基本信息", "发展计划与投资"}):
                for row in rows:
                    if len(row) == 1:
                        values[row[0]] = _widget(key_prefix, row[0], d)
                    else:
                        for column, name in zip(st.columns(len(row)), row, strict=True):
                            with column:
                                values[name] = _widget(key_prefix, name, d)
                    if row == ("qualifications",):
                        no_quals = st.checkbox("以上资质均未取得", value=d.get("qualifications") == [],
                                               key=f"{key_prefix}_no_qualifications",
                                               help="勾选表示确认没有上述任何资质；不勾选且不选择则视为未知")
        submitted = st.form_submit_button("开始匹配", type="primary", key=f"{key_prefix}_submit",
                                          icon=":material/search:")
    if not submitted:
        return None
    return _collect(values, no_quals)


# --------------------------------------------------------------------------------------
# Matching (a thin call into the package) and its errors
# --------------------------------------------------------------------------------------


def run_match(raw: dict[str, Any], *, as_of: date | str | None = None, include_expired: bool = False) -> dict[str, Any]:
    """Validate and match one raw profile; raises ``ProfileError``. The result is
    ``MatchResult.to_dict()`` plus ``profile`` (the validated known fields) for display."""
    parsed = parse_profile(raw)
    result = get_matcher().match(parsed.profile, as_of=as_of, include_expired=include_expired)
    out = result.to_dict()
    out["warnings"] = [*parsed.warnings, *out["warnings"]]
    out["profile"] = parsed.profile.known()
    return out


def problem_lines(problems: list[FieldProblem]) -> list[str]:
    """One markdown line per rejected field: Chinese label, the value as typed, the reason."""
    lines = []
    for p in problems:
        value = "（空）" if p.value is None else str(p.value)
        if len(value) > 80:
            value = value[:80] + "…"
        lines.append(f"- **{md(field_label(p.field))}**：填写的值 “{md(value)}” —— {md(p.message)}")
    return lines


def render_profile_problems(problems: list[FieldProblem]) -> None:
    st.error("以下信息填写有误，请修改后重新提交（其余已填内容均已保留）：\n\n" + "\n".join(problem_lines(problems)),
             icon=":material/error:")


# --------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------

MAX_UPLOAD_MB = 50
MAX_BATCH_ROWS = 100_000
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
BATCH_TYPES = ("csv", "xlsx")
# What the uploader offers in the browser's file picker: the two extensions, and CSV's MIME type.
# With only extensions Streamlit re-checks the name on the server before the page runs and a
# file that got past the browser ends in its English error page; one MIME type turns that check
# off, so ``load_batch_upload`` refuses such a file with our Chinese message. The English hint
# the types would make is replaced by ``WIDGET_TEXT_CSS``.
UPLOAD_TYPES = [*BATCH_TYPES, "text/csv"]


def template_csv_bytes() -> bytes:
    """The batch template as CSV in UTF-8 with BOM (opens correctly in Excel and WPS): the
    Chinese headers and one example row; the 说明 is in the Excel template."""
    return template_frame().to_csv(index=False).encode("utf-8-sig")


def template_xlsx_bytes() -> bytes:
    """The batch template as an Excel workbook: 企业名单 (headers and one example row) and 说明."""
    buffer = io.BytesIO()
    write_template(buffer)
    return buffer.getvalue()


def load_batch_upload(data: bytes, filename: str) -> BatchInput:
    """Read an uploaded batch file; raises ``InputError`` with a message for the user."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"文件过大（{len(data) / 1048576:.1f} MB，上限 {MAX_UPLOAD_MB} MB），请拆分后上传")
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in BATCH_TYPES:
        raise InputError(f"不支持的文件类型“{clip(filename, 40)}”：请上传 .csv 或 .xlsx 文件")
    return read_batch(data, filename, max_rows=MAX_BATCH_ROWS, max_bytes=MAX_UPLOAD_BYTES)


def streamlit_progress(bar: Any, *, label: str = "正在匹配") -> Callable[..., Iterator]:
    """Adapt ``st.progress`` to ``run_batch``'s ``progress(iterable, total)`` hook."""

    def progress(iterable: Iterable, total: int) -> Iterator:
        step = max(1, total // 100)
        done = 0
        for done, row in enumerate(iterable, 1):
            if done % step == 0 or done == total:
                bar.progress(min(1.0, done / total), text=f"{label}：{done}/{total} 家企业")
            yield row
        if total == 0 or done == 0:
            bar.progress(1.0, text="没有可匹配的企业")

    return progress


def run_batch_matching(batch: BatchInput, *, as_of: date | str | None, include_expired: bool,
                       progress: Callable[..., Iterator] | None = None) -> BatchResult:
    return run_batch(batch, as_of=as_of, include_expired=include_expired, matcher=get_matcher(),
                     progress=progress, workers=1)


def town_frame(result: BatchResult) -> pd.DataFrame:
    """Per town: firms with policies to act on, and the money they may still claim."""
    return pd.DataFrame(town_rows(result.summaries), columns=TOWN_COLUMNS)


def error_frame(result: BatchResult) -> pd.DataFrame:
    """The rows that were not matched; 字段 holds the field's Chinese label (as in the workbook)."""
    return pd.DataFrame(result.errors, columns=ERROR_COLUMNS)


def workbook_bytes(result: BatchResult) -> bytes:
    buffer = io.BytesIO()
    write_workbook(result, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------
# Streamlit's own English, replaced
# --------------------------------------------------------------------------------------

# Streamlit writes a few words of its own in English and offers no setting for them: the file
# uploader's button ("Upload"), its hint ("50MB per file • CSV, XLSX"), the drag overlay ("Drag
# and drop a file here") and a refused file; the input hints ("Press Enter to apply", "Press
# Ctrl+Enter to submit form"). This fixed style sheet hides those texts and, where a hint helps,
# shows a Chinese one in its place (CSS ``content``). It holds no user text; it is sent with
# ``st.html`` as style only, which takes no space on the page.
WIDGET_TEXT_CSS = """
[data-testid="stFileUploaderDropzone"] button[data-testid="stBaseButton-secondary"] [data-testid="stMarkdownContainer"] p {
  display: none; }
[data-testid="stFileUploaderDropzone"] button[data-testid="stBaseButton-secondary"] [data-testid="stMarkdownContainer"]::after {
  content: "选择文件"; }
[data-testid="stFileUploaderDropzoneInstructions"] span { display: none; }
[data-testid="stFileUploaderDropzoneInstructions"] > div::after {
  content: "或把文件拖到这里 · 单个文件不超过 %(mb)d MB"; font-size: 0.875rem; opacity: 0.7; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]):not(:has([data-testid])) > span { display: none; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]):not(:has([data-testid]))::after {
  content: "松开鼠标即可上传"; }
[data-testid="stFileChip"][aria-invalid="true"] [data-testid="stFileChipName"]::after {
  content: " · 无法上传：请选择不超过 %(mb)d MB 的 .csv 或 .xlsx 文件"; }
[data-testid="stTooltipErrorHoverTarget"] { pointer-events: none; }
[data-testid="stTooltipErrorHoverTarget"] [data-testid="stFileChipDeleteBtn"] { pointer-events: auto; }
[data-testid="InputInstructions"] > span:not(:last-child) { display: none; }
[data-testid="InputInstructions"] > span::before { content: none !important; }
[data-testid="stTextInput"]:not(:has(input[maxlength])) [data-testid="InputInstructions"],
[data-testid="stTextArea"]:not(:has(textarea[maxlength])) [data-testid="InputInstructions"],
[data-testid="stNumberInput"] [data-testid="InputInstructions"],
[data-testid="stDateInput"] [data-testid="InputInstructions"] { display: none; }
"""


def use_chinese_widget_text() -> None:
    """Replace Streamlit's English widget texts on every page (call once per run, in app.py)."""
    st.html(f"<style>{WIDGET_TEXT_CSS % {'mb': MAX_UPLOAD_MB}}</style>")


# --------------------------------------------------------------------------------------
# Unexpected errors: a Chinese message on the page, the details in the server log
# --------------------------------------------------------------------------------------

log = logging.getLogger("policy_match.app")


def show_unexpected_error(action: str, exc: BaseException, *, hint: str = "请稍后重试；如仍出现，请联系系统管理员。") -> None:
    """For an error nobody foresaw: one Chinese line for the user, the traceback in the server's
    log. Tracebacks name server paths and data, so they never reach the browser (with
    ``client.showErrorDetails = "none"`` in .streamlit/config.toml not even Streamlit's own)."""
    log.error("%s失败：%s: %s", action, type(exc).__name__, exc, exc_info=exc)
    st.error(f"{action}时出现意外错误，详细信息已记入服务器日志。{hint}", icon=":material/error:")


def try_workbook_bytes(result: BatchResult) -> tuple[bytes | None, str | None]:
    """The results workbook, or a message for the user when it cannot be written (a full or
    unwritable temporary disk, …). The message names no server path; the cause goes to the log."""
    try:
        return workbook_bytes(result), None
    except Exception as exc:  # any failure here must leave the matched results on screen
        log.warning("results workbook failed: %s: %s", type(exc).__name__, exc)
        return None, "生成结果工作簿失败（服务器临时存储不可用或已满）。匹配结果仍保留在本页，可稍后点击“重新生成工作簿”再下载。"
