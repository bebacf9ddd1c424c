"""Input and output: profile files, batch files in, result rows and files out.

Batch files (CSV in UTF-8 / UTF-8-BOM / GB18030 / Big5, Excel .xlsx, Parquet) are read by
``tables.py`` — safely, in chunks; the streaming pipeline is ``batch.py`` and the writers are
``outputs.py``. This module keeps the one place that turns a MatchResult into output rows
(``summary_row``, ``detail_rows`` and their column lists) and the in-memory batch API the app
uses (``read_batch`` → ``run_batch`` → ``write_workbook``).
Columns may use the contract's names or the Chinese labels of the form (企业名称, 所在镇街 …).
A row that fails validation is reported with its reason; the other rows still run.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .fields import (
    FIELD_HELP,
    FORM_ORDER,
    LIST_VOCABULARIES,
    LISTING_STAGES,
    NUMERIC_KINDS,
    PROFILE_FIELDS,
    QUALIFICATIONS,
    SECTORS,
    TOWNS,
    field_heading,
    format_value,
)
from .matcher import Matcher, MatchResult, default_matcher, parse_as_of
from .profile import FieldProblem, Profile
from .results import ItemResult, NearMiss
from .schema import PolicyRecord
from .sources import ranked
from .tables import (
    COLUMN_ALIASES,
    TEMPLATE_NOTE_COLUMNS,
    InputError,
    InputRow,
    map_header,
    open_table,
    os_error_text,
)
from .wording import FIT_ZH, STATUS_ZH, VALIDITY_ZH

MAX_BATCH_BYTES = 50 * 1024 * 1024
MAX_BATCH_ROWS = 100_000
MAX_PROFILE_BYTES = 10 * 1024 * 1024  # one firm's profile; plans of 100k characters fit easily
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK/GB2312


def read_profile_file(path: str | Path) -> dict[str, Any]:
    """A JSON profile file → mapping (validation happens in ``parse_profile``)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"无法读取文件 {path}：{os_error_text(exc, reading=True)}") from None
    return profile_from_json(raw, str(path))


# What Python's JSON reader says, in Chinese (its messages are English; the position is given apart).
_JSON_ERRORS = (
    ("Expecting property name enclosed in double quotes", "键名应放在英文双引号内"),
    ("Expecting value", "此处应有一个值"),
    ("Expecting ',' delimiter", "缺少逗号"),
    ("Expecting ':' delimiter", "缺少冒号"),
    ("Extra data", "JSON 结束后还有多余内容"),
    ("Unterminated string", "文本缺少结尾的英文双引号"),
    ("Invalid control character", "文本中有不允许的控制字符（如未转义的换行）"),
    ("Invalid \\escape", "无效的反斜杠转义"),
    ("Invalid \\uXXXX escape", "无效的 \\u 转义"),
)
_JSON_KINDS = {list: "数组（列表）", str: "文本", int: "数字", float: "数字", bool: "是/否", type(None): "空值（null）"}


def json_error_text(message: str) -> str:
    """A JSON reader's message in Chinese; one not in the table becomes a general phrase."""
    for english, chinese in _JSON_ERRORS:
        if message.startswith(english):
            return chinese
    return "格式错误"


def _json_int(text: str) -> int | str:
    # Python refuses to turn more than 4300 digits into an int; keep the text so that the profile
    # parser names the field ("数值过大") instead of the JSON reader failing on the whole file.
    return int(text) if len(text) <= 1000 else text


def _json_float(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text  # 1e400: shown as typed, rejected by the field


def profile_from_json(raw: bytes | str, where: str) -> dict[str, Any]:
    """Bytes or text of one JSON profile → mapping, with a one-line Chinese message naming
    ``where`` (a path, 标准输入) for anything that is not a JSON object of reasonable size.
    ``NaN`` / ``Infinity`` / 1e400 / a 5000-digit number are kept as text, so the profile parser
    rejects them naming the field rather than passing a non-finite number on."""
    if len(raw) > MAX_PROFILE_BYTES:
        raise InputError(f"{where}: 文件过大（超过 {MAX_PROFILE_BYTES // 1048576} MB），不是一家企业的画像")
    text = raw
    if isinstance(raw, bytes):
        text = None
        for enc in CSV_ENCODINGS:
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise InputError(f"{where}: 不是 UTF-8 或 GBK 编码的文本")
    try:
        data = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=str)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: 不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{json_error_text(exc.msg)}）") from None
    except RecursionError:
        raise InputError(f"{where}: JSON 嵌套层数过深；企业画像应为一层 {{\"字段\": 值}}") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: 企业画像应为 JSON 对象（{{\"字段\": 值}}），实际是{_JSON_KINDS.get(type(data), '其他值')}")
    return data


@dataclass
class BatchInput:
    """A whole batch file in memory (the app's path; the CLI streams instead)."""

    rows: list[tuple[int, dict[str, Any]]]  # (spreadsheet row number, raw mapping)
    column_map: dict[str, str]
    ignored_columns: list[str]
    problems: list[tuple] = field(default_factory=list)  # rows that could not be read, ERROR_COLUMNS order
    row_warnings: dict[int, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # how the file was read (encoding, skipped sheets)
    row_extras: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # the bureau's own columns

    def input_rows(self) -> list[InputRow]:
        rows = [InputRow(row, raw, self.row_warnings.get(row, ()), None, self.row_extras.get(row, ()))
                for row, raw in self.rows]
        rows += [InputRow(p[0], {}, (), p) for p in self.problems]
        return sorted(rows, key=lambda r: r.row)


def read_batch(data: bytes | Path, filename: str, *, max_rows: int | None = MAX_BATCH_ROWS,
               max_bytes: int | None = MAX_BATCH_BYTES) -> BatchInput:
    """Read a whole batch file (uploaded bytes or a path) into a :class:`BatchInput`."""
    if isinstance(data, (bytes, bytearray)) and max_bytes is not None and len(data) > max_bytes:
        raise InputError(f"文件过大（{len(data) / 1048576:.1f} MB，上限 {max_bytes // 1048576} MB），请拆分后上传")
    reader = open_table(data, filename, max_rows=max_rows)
    try:
        rows, problems, warnings, extras = [], [], {}, {}
        for r in reader.rows:
            if r.problem is not None:
                problems.append(r.problem)
                continue
            rows.append((r.row, r.values))
            if r.warnings:
                warnings[r.row] = r.warnings
            if r.extras:
                extras[r.row] = r.extras
    finally:
        reader.close()
    return BatchInput(rows, reader.column_map, reader.ignored_columns, problems, warnings, reader.notes, extras)


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """Compatibility: a batch file as a frame of the recognised columns (original headers).
    Rows the reader rejects are dropped here; use :func:`read_batch` to keep them as problems."""
    batch = read_batch(data, filename)
    field_to_header = {v: k for k, v in batch.column_map.items()}
    records = [{field_to_header[k]: v for k, v in raw.items()} for _, raw in batch.rows]
    frame = pd.DataFrame(records, columns=list(batch.column_map), dtype=object)
    frame.attrs["ignored_columns"] = batch.ignored_columns
    frame.attrs["row_numbers"] = [row for row, _ in batch.rows]
    return frame


def map_columns(frame: pd.DataFrame) -> BatchInput:
    """Compatibility: a frame with a header → :class:`BatchInput`."""
    columns = map_header(list(frame.columns))
    numbers = frame.attrs.get("row_numbers") or list(range(2, len(frame) + 2))
    rows = []
    for row, cells in zip(numbers, frame.itertuples(index=False, name=None), strict=True):
        mapped = {key: cells[i] for i, key in columns.fields.items() if i < len(cells) and not _blank(cells[i])}
        if mapped:
            rows.append((row, mapped))
    column_map = {columns.header[i]: key for i, key in columns.fields.items()}
    return BatchInput(rows, column_map, [*columns.ignored, *frame.attrs.get("ignored_columns", [])])


def _blank(value: Any) -> bool:
    from .profile import is_blank

    return is_blank(value)


@dataclass
class BatchResult:
    as_of: date
    summaries: list[dict[str, Any]] = field(default_factory=list)
    details: list[tuple] = field(default_factory=list)  # rows in DETAIL_COLUMNS order
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    results: list[tuple[int, MatchResult]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok_rows(self) -> int:
        return len(self.summaries)


def run_batch(batch: BatchInput, *, as_of: date | str | None = None, include_expired: bool = False,
              matcher: Matcher | None = None, progress: Callable[..., Iterable] | None = None,
              keep_results: bool = False, workers: int | None = None) -> BatchResult:
    """Validate every row, then match the valid ones, all in memory (the app's batch; the CLI
    streams with ``batch.stream_batch``). Bad rows land in ``errors`` with the field, the
    value and the reason; they never stop the others. Large batches run on ``workers``
    processes (default: the machine's cores, at most 4). ``progress(iterable, total)`` wraps
    an iterable with one item per input row."""
    from .batch import CHUNK_ROWS, PARALLEL_MIN_ROWS, default_workers, ordered_chunks

    matcher = matcher or default_matcher()
    out = BatchResult(as_of=parse_as_of(as_of), ignored_columns=batch.ignored_columns, notes=list(batch.notes))
    rows = batch.input_rows()
    workers = default_workers() if workers is None else workers
    if len(rows) < PARALLEL_MIN_ROWS:
        workers = 1
    chunks = (rows[i:i + CHUNK_ROWS] for i in range(0, len(rows), CHUNK_ROWS))
    outputs = ordered_chunks(chunks, as_of=out.as_of, include_expired=include_expired, matcher=matcher,
                             workers=workers, keep_results=keep_results)

    def per_row() -> Iterable[None]:
        for chunk in outputs:
            out.summaries.extend(dict(zip(SUMMARY_COLUMNS, s, strict=True)) for s in chunk.summaries)
            out.details.extend(chunk.details)
            out.errors.extend(dict(zip(ERROR_COLUMNS, e, strict=True)) for e in chunk.errors)
            if chunk.results is not None:
                out.results.extend(chunk.results)
            yield from [None] * chunk.rows_in

    iterator = per_row()
    if progress is not None:
        iterator = progress(iterator, total=len(rows))
    for _ in iterator:
        pass
    return out


def summary_row(row: int, profile: Profile, result: MatchResult,
                extras: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One firm's line: what it is advised to act on and the money it may plausibly count, and
    the bureau's own columns of its row (``extras``) as they were written."""
    summary, money = result.summary, result.summary.money
    recommended = result.recommended()
    soon = [f"{p.policy.short_title or p.policy.title}：{p.validity.deadline_warning}"
            for p in recommended if p.validity.deadline_warning]
    return {
        "行号": row,
        "企业名称": profile.name or f"第{row}行",
        "统一社会信用代码": profile.credit_code or "",
        "所在镇街": profile.town or "",
        "推荐申报政策数": summary.counts.get("recommended", 0),
        "普遍适用服务数": summary.counts.get("general", 0),
        "其他可了解政策数": summary.counts.get("other", 0),
        "可以预期(万元)": _num(money.entitled),
        "核实后可得(万元)": _num(money.pending),
        "竞争性最高可争取(万元)": _num(money.up_to),
        "推荐政策": "；".join(p.policy.short_title or p.policy.title for p in recommended[:5]),
        "临近截止": "；".join(soon),
        "只差人工核实": "；".join(c.title for c in result.one_check_away[:3]),
        "差一点就能享受": "；".join(n.summary for n in result.near_misses[:2]),
        "建议": summary.text,
        "提示": "；".join(result.warnings),
        "原表其他列": "；".join(f"{header}：{text}" for header, text in extras),
    }


def _num(x: float) -> float | int:
    r = round(x, 2)
    return int(r) if float(r).is_integer() else r


SUMMARY_COLUMNS = ["行号", "企业名称", "统一社会信用代码", "所在镇街", "推荐申报政策数", "普遍适用服务数", "其他可了解政策数",
                   "可以预期(万元)", "核实后可得(万元)", "竞争性最高可争取(万元)", "推荐政策", "临近截止", "只差人工核实",
                   "差一点就能享受", "建议", "提示", "原表其他列"]
DETAIL_COLUMNS = ["行号", "企业名称", "政策排名", "政策编号", "政策名称", "推荐等级", "有效性", "有效期说明", "截止日期",
                  "事项编号", "支持事项", "结论", "金额性质", "可以预期(万元)", "最高可得(万元)", "金额计算", "不满足的条件",
                  "待确认的条件", "下一步", "主管部门", "联系方式", "来源"]
_BASIS_ZH = {"entitlement": "符合条件即可获得", "up_to": "竞争性（最高额度）", "cap_estimate": "按上限估算（未计入合计）"}
ERROR_COLUMNS = ["行号", "企业名称", "字段", "填写的值", "原因"]
# Column types for typed outputs (Parquet); any column not named here is text.
NUMERIC_COLUMNS: dict[str, type] = {
    "行号": int, "推荐申报政策数": int, "普遍适用服务数": int, "其他可了解政策数": int, "政策排名": int,
    "可以预期(万元)": float, "核实后可得(万元)": float, "竞争性最高可争取(万元)": float, "最高可得(万元)": float,
    "企业数": int, "有推荐申报政策的企业数": int,
}


def detail_rows(row: int, profile: Profile, result: MatchResult) -> list[tuple]:
    """Item-level rows, as tuples in ``DETAIL_COLUMNS`` order (compact to pass between batch
    processes): the items the firm is advised to act on, and the near misses it could close;
    services, other and ruled-out items are counted in the summary sheet, not listed."""
    name = profile.name or f"第{row}行"
    rows: list[tuple[int, PolicyRecord, ItemResult, NearMiss | None]] = [
        (rec.rank, rec.policy, it, None) for rec in result.recommended() for it in rec.items]
    rows += [(*result.item(n.item_id), n) for n in result.near_misses]
    out = []
    for rank, policy, it, miss in rows:
        amount = it.amount_dict() or {}
        department = it.item.department or policy.department or ""
        contact = it.item.contact or (policy.contact if policy.contact and policy.contact.department == department
                                      else None)
        out.append((
            row, name, rank, policy.policy_id, policy.title, FIT_ZH[it.fit], VALIDITY_ZH[it.validity.validity],
            it.validity.note + (f"（{it.validity.deadline_warning}）" if it.validity.deadline_warning else ""),
            it.validity.deadline.isoformat() if it.validity.deadline else "",
            it.item_id, it.item.title, STATUS_ZH[it.status], _BASIS_ZH.get(amount.get("basis"), ""),
            amount.get("low", ""), amount.get("high", "") if miss is None else miss.potential_high,
            amount.get("formula", "金额未公开或非资金类支持"),
            "；".join(c.reason for c in it.conditions if c.verdict == "unmet"),
            "；".join(c.reason for c in it.conditions if c.verdict == "unknown"),
            "；".join(c.text for c in miss.changes) if miss is not None else "；".join(it.hints),
            department, contact.text() if contact else "联系方式未公开",
            _best_source(it.item.sources),
        ))
    return out


def _best_source(sources: list[str]) -> str:
    """The item's best source (official pages first), with its class: "…（政府官方网页）"."""
    if not sources:
        return ""
    best = ranked(sources)[0]
    return f"{best.source}（{best.label}）"


TOWN_COLUMNS = ["所在镇街", "企业数", "有推荐申报政策的企业数", "推荐申报政策数", "可以预期(万元)", "核实后可得(万元)",
                "竞争性最高可争取(万元)"]


class TownTotals:
    """Per town, summed as summary rows arrive (a streaming batch never holds them all): how
    many firms have something to act on, and the money they may still claim."""

    def __init__(self) -> None:
        self._towns: dict[str, list[float]] = {}

    def add(self, summary: dict[str, Any]) -> None:
        town = summary.get("所在镇街") or "未填写"
        acc = self._towns.setdefault(town, [0, 0, 0, 0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += summary["推荐申报政策数"] > 0
        acc[2] += summary["推荐申报政策数"]
        acc[3] += summary["可以预期(万元)"]
        acc[4] += summary["核实后可得(万元)"]
        acc[5] += summary["竞争性最高可争取(万元)"]

    def merge(self, other: TownTotals) -> None:
        """Add another batch part's totals (a worker's chunk, a Dask partition)."""
        for town, acc in other._towns.items():
            mine = self._towns.setdefault(town, [0, 0, 0, 0.0, 0.0, 0.0])
            for i, value in enumerate(acc):
                mine[i] += value

    def rows(self) -> list[dict[str, Any]]:
        out = [dict(zip(TOWN_COLUMNS, [town, int(a[0]), int(a[1]), int(a[2]), _num(a[3]), _num(a[4]), _num(a[5])],
                        strict=True)) for town, a in self._towns.items()]
        return sorted(out, key=lambda r: (-r["竞争性最高可争取(万元)"] - r["可以预期(万元)"], -r["企业数"], r["所在镇街"]))


def town_rows(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    totals = TownTotals()
    for s in summaries:
        totals.add(s)
    return totals.rows()


def write_workbook(result: BatchResult, path: str | Path | io.BytesIO) -> None:
    """Write the results workbook: 企业汇总, 镇街汇总, 政策明细 (split past Excel's row limit),
    校验失败, 说明 (readable in Excel and WPS). Every text cell is a string, never a formula or a link;
    see ``outputs.py``."""
    from .batch import BatchStats, batch_notes
    from .outputs import XlsxOutput

    writer = XlsxOutput(path)
    try:
        summaries = [tuple(s.get(c) for c in SUMMARY_COLUMNS) for s in result.summaries]
        errors = [tuple(e.get(c) for c in ERROR_COLUMNS) for e in result.errors]
        writer.write(summaries, result.details, errors)
        stats = BatchStats(as_of=result.as_of, matched=result.ok_rows, failed_rows=len({e["行号"] for e in result.errors}),
                           notes=result.notes)
        writer.close(batch_notes(stats, ignored=result.ignored_columns), town_rows(result.summaries))
    except BaseException:
        writer.abort()
        raise


# The batch template: the form's fields in the form's order (and the operator roles, which only
# platform or park operators fill in), headed by their Chinese labels with units.
TEMPLATE_FIELDS: tuple[str, ...] = (*FORM_ORDER, "operator_roles")
TEMPLATE_EXAMPLE: dict[str, Any] = {
    "name": "示例灯饰有限公司（示例行，可删除）", "town": "古镇镇", "sector": "C", "industry": "灯饰照明制造",
    "founded_year": 2012, "registered_in_zhongshan": "是", "above_scale": "是", "newly_above_scale_year": 2019,
    "annual_revenue_wan": 12000, "revenue_growth_pct": 12, "employees": 180, "rd_expense_wan": 450,
    "qualifications": "高新技术企业、专精特新中小企业", "listing_stage": "未启动上市", "credit_ok": "是",
    "plans": "计划投入3000万上MES系统和自动化产线，建设数字化车间", "planned_investment_wan": 3500,
    "buying_land_first_time": "否", "equipment_software_investment_wan": 3000, "relocating_from_renovation_area": "否",
    "cross_border_ecommerce": "否",
}


def template_columns() -> list[str]:
    """The template's headers: "企业名称", "上年度营业收入（万元）", … (the reader maps them back)."""
    return [field_heading(name) for name in TEMPLATE_FIELDS]


def template_frame() -> pd.DataFrame:
    """The batch template: every field as a Chinese column (label and unit), one example row."""
    row = {field_heading(k): TEMPLATE_EXAMPLE.get(k) for k in TEMPLATE_FIELDS}
    return pd.DataFrame([row], columns=template_columns(), dtype=object)


def _how_to_write(name: str) -> str:
    info = PROFILE_FIELDS[name]
    if info.kind == "bool":
        return "填“是”或“否”（也可写 1/0、true/false）"
    if name == "town":
        return "中山市的镇街或功能区，如 古镇镇、石岐街道、火炬开发区（“古镇”“火炬区”也可以）"
    if name == "sector":
        return "国民经济行业门类字母 A–T，如 C（制造业）、F（批发和零售业）、I（信息传输、软件和信息技术服务业）"
    if name == "listing_stage":
        return "以下之一：" + "、".join(LISTING_STAGES.values())
    if info.kind == "list":
        vocabulary = LIST_VOCABULARIES[name]
        return "多项用顿号“、”或分号分隔，可选：" + "、".join(vocabulary)
    if info.kind in NUMERIC_KINDS:
        whole = "整数" if info.kind == "int" else "数字"
        if info.unit in {"年", "级"}:
            return f"{whole}" + (f"（{info.minimum:g}–{info.maximum:g}）" if name == "digital_level" else "，如 2019")
        return (f"{whole}，单位{info.unit}；也可带单位写，如“1.5亿”“3000元”，会换算为{info.unit}。"
                f"整列用别的单位时，在表头写明，如“{info.label}（{_other_unit(info.unit)}）”")
    if name == "credit_code":
        return "18 位数字或大写字母"
    return "文字"


def _other_unit(unit: str) -> str:
    return {"万元": "亿元", "万美元": "美元", "人": "万人", "㎡": "万平方米", "%": "%"}.get(unit, unit)


def template_notes() -> list[tuple[str, str, str, str]]:
    """The template's 说明 sheet: (列名, 含义, 怎么填, 字段名) per column, general rules first."""
    rows = [
        ("（总体说明）", "每行一家企业，第一行是列名；示例行可以删除或改写。", "所有列都是选填：空着表示“未知”，"
         "不会被当作“否”或 0；填得越多，结论越确定。列的顺序不限，用不到的列可以删掉。", ""),
        ("（列名）", "列名可以用本模板的中文名，也可以用常见写法（如 营业收入（亿元）、员工人数、企业名称）"
         "或字段名（如 annual_revenue_wan）。", "表头里写了单位的，按表头单位读取并换算；无法换算的单位会提示改正。"
         "认不出的列会在读取时列出，不参与匹配。", ""),
    ]
    for name in TEMPLATE_FIELDS:
        info = PROFILE_FIELDS[name]
        meaning = info.label + (f"。{FIELD_HELP[name]}" if name in FIELD_HELP else "")
        rows.append((field_heading(name), meaning, _how_to_write(name), name))
    return rows


def write_template(target: str | Path | io.BytesIO) -> None:
    """The batch template as an .xlsx workbook: 企业名单 (Chinese headers, one example row, a 是/否 or
    镇街 pick-list where it helps, headers frozen) and 说明 (what each column means and how to write it)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(target, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False, "in_memory": True})  # a few KB; no temp files
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet = book.add_worksheet("企业名单")
    sheet.freeze_panes(1, 1)
    sheet.set_row(0, 36)
    for col, name in enumerate(TEMPLATE_FIELDS):
        heading = field_heading(name)
        sheet.write_string(0, col, heading, bold)
        sheet.set_column(col, col, 40 if name == "plans" else max(12, min(30, len(heading) * 2 + 2)))
        value = TEMPLATE_EXAMPLE.get(name)
        if isinstance(value, str):
            sheet.write_string(1, col, value)
        elif value is not None:
            sheet.write_number(1, col, value)
        info = PROFILE_FIELDS[name]
        choices = ["是", "否"] if info.kind == "bool" else list(TOWNS) if name == "town" else list(SECTORS) \
            if name == "sector" else None
        if choices:  # a pick-list that suggests, never refuses ("古镇" is read too)
            sheet.data_validation(1, col, 10_000, col, {"validate": "list", "source": choices, "show_error": False})
    notes = book.add_worksheet("说明")
    notes.freeze_panes(1, 0)
    for col, (title, width) in enumerate(zip(TEMPLATE_NOTE_COLUMNS, (28, 50, 70, 32), strict=True)):
        notes.write_string(0, col, title, bold)
        notes.set_column(col, col, width, wrap)
    for r, row in enumerate(template_notes(), 1):
        for col, text in enumerate(row):
            notes.write_string(r, col, text)
    notes.autofilter(0, 0, len(template_notes()), len(TEMPLATE_NOTE_COLUMNS) - 1)
    book.close()


def field_problem_lines(problems: list[FieldProblem]) -> str:
    return "；".join(p.line() for p in problems)


def profile_to_row(profile: Profile) -> dict[str, str]:
    return {k: format_value(k, v) for k, v in profile.known().items()}


__all__ = [
    "COLUMN_ALIASES", "DETAIL_COLUMNS", "ERROR_COLUMNS", "SUMMARY_COLUMNS", "BatchInput", "BatchResult", "InputError",
    "QUALIFICATIONS", "TOWNS", "detail_rows", "map_columns", "read_batch", "read_profile_file", "read_table",
    "run_batch", "summary_row", "template_columns", "template_frame", "template_notes", "write_template",
    "write_workbook",
]
