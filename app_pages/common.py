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

from policy_match.fields import LISTING_STAGES, PROFILE_FIELDS, QUALIFICATIONS, SECTORS, TOWNS, field_label
from policy_match.io import (
    TOWN_COLUMNS,
    BatchInput,
    BatchResult,
    InputError,
    read_batch,
    run_batch,
    template_frame,
    town_rows,
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
VALIDITY_COLOR = {"current": "green", "expired": "red", "unknown": "yellow"}
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
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "基本信息": ("name", "credit_code", "town", "registered_in_zhongshan", "founded_year", "sector", "industry"),
    "规模与经营": ("above_scale", "newly_above_scale_year", "annual_revenue_wan", "revenue_growth_pct", "employees",
                "paid_in_capital_wan", "local_contribution_wan", "rd_expense_wan"),
    "资质与信用": ("qualifications", "listing_stage", "credit_ok"),
    "发展计划与投资": ("plans", "planned_investment_wan", "equipment_software_investment_wan", "loan_interest_wan",
                "buying_land_first_time", "relocating_from_renovation_area", "leased_area_m2", "digital_level"),
    "跨境电商": ("cross_border_ecommerce", "cross_border_sales_usd_wan", "independent_site_fee_wan",
             "overseas_marketing_wan"),
}
FIELD_HELP = {
    "registered_in_zhongshan": "注册地、经营地、纳税地均在中山市",
    "sector": "国民经济行业分类（GB/T 4754-2017）门类",
    "industry": "例如：灯饰照明制造、五金制品、跨境电商",
    "above_scale": "工业：年主营业务收入 2000 万元及以上；批零住餐为限额以上；服务业为规模以上",
    "newly_above_scale_year": "首次纳入规上统计名录的年份",
    "revenue_growth_pct": "百分数：增长 35% 填 35，下降 10% 填 -10",
    "local_contribution_wan": "市、镇两级财政分成的税收合计",
    "credit_ok": "未被列入失信、经营异常名录，近三年无重大违法记录",
    "plans": "用自己的话写：扩产、上设备、上 MES/ERP、买地、搬迁、融资、上市、出口……写得越具体，推荐越准",
    "equipment_software_investment_wan": "计划项目中设备和软件的投入",
    "relocating_from_renovation_area": "因村镇低效工业园改造（工改）需要搬迁",
    "leased_area_m2": "搬迁后在新址租赁的厂房面积",
    "digital_level": "数字化改造后达到的数字化水平等级（1–4 级）",
    "cross_border_sales_usd_wan": "单位：万美元",
    "independent_site_fee_wan": "独立站 SaaS 年服务费或建站装修费",
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
    info = PROFILE_FIELDS[name]
    if info.unit and info.unit not in {"年", "级"}:
        return f"{info.label}（{info.unit}）"
    return info.label


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
    pass a different ``key_prefix`` to show a fresh form pre-filled with other ``defaults``."""
    d = normalise_defaults(defaults)
    values: dict[str, Any] = {}
    with st.form(key=f"{key_prefix}_form", clear_on_submit=False, border=True):
        st.caption("所有项目均为选填。未填写的项目按“待确认”处理，不会被当作“否”或 0。金额单位：万元。")
        for section, names in SECTION_FIELDS.items():
            with st.expander(section, expanded=section in {"基本信息", "发展计划与投资"}):
                if section == "发展计划与投资":
                    values["plans"] = _widget(key_prefix, "plans", d)
                    names = tuple(n for n in names if n != "plans")
                if section == "资质与信用":
                    values["qualifications"] = _widget(key_prefix, "qualifications", d)
                    no_quals = st.checkbox("以上资质均未取得", value=d.get("qualifications") == [],
                                           key=f"{key_prefix}_no_qualifications",
                                           help="勾选表示确认没有上述任何资质；不勾选且不选择则视为未知")
                    names = tuple(n for n in names if n != "qualifications")
                cols = st.columns(2)
                for i, name in enumerate(names):
                    with cols[i % 2]:
                        values[name] = _widget(key_prefix, name, d)
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
# What the uploader offers in the browser's file picker. The MIME types name the same two
# formats; listing them also leaves the extension check to ``load_batch_upload`` on the
# server, so a wrong file gets our Chinese message instead of Streamlit's English exception.
UPLOAD_TYPES = [*BATCH_TYPES, "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]


def template_csv_bytes() -> bytes:
    """The batch template as CSV in UTF-8 with BOM (opens correctly in Excel and WPS)."""
    return template_frame().to_csv(index=False).encode("utf-8-sig")


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
    frame = pd.DataFrame(result.errors, columns=["行号", "企业名称", "字段", "填写的值", "原因"])
    frame.insert(3, "字段名称", [field_label(f) for f in frame["字段"]])
    return frame


def workbook_bytes(result: BatchResult) -> bytes:
    buffer = io.BytesIO()
    write_workbook(result, buffer)
    return buffer.getvalue()


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
