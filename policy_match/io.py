"""Input and output: profile files, batch CSV/Excel in, results workbook out.

Excel on Chinese Windows saves CSV as GBK, newer versions as UTF-8 with BOM; both are read.
Columns may use the contract's names or the Chinese labels of the form (企业名称, 所在镇街 …).
A row that fails validation is reported with its reason; the other rows still run.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from .fields import PROFILE_FIELDS, QUALIFICATIONS, TOWNS, format_value
from .matcher import Matcher, MatchResult, default_matcher, parse_as_of
from .profile import FieldProblem, Profile, ProfileError, is_blank, parse_profile
from .wording import FIT_ZH, STATUS_ZH, VALIDITY_ZH

MAX_BATCH_BYTES = 50 * 1024 * 1024
MAX_BATCH_ROWS = 100_000
MAX_PROFILE_BYTES = 10 * 1024 * 1024  # one firm's profile; plans of 100k characters fit easily
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK/GB2312

# Chinese column headers accepted in batch files (the form's labels and a few common ones).
COLUMN_ALIASES: dict[str, str] = {info.label: name for name, info in PROFILE_FIELDS.items()}
COLUMN_ALIASES.update({
    "企业名称": "name", "名称": "name", "统一社会信用代码": "credit_code", "信用代码": "credit_code",
    "镇街": "town", "所在镇街": "town", "行业门类": "sector", "行业": "industry", "主营业务": "industry",
    "是否规上": "above_scale", "规上": "above_scale", "营业收入": "annual_revenue_wan",
    "营收": "annual_revenue_wan", "营收增长": "revenue_growth_pct", "从业人数": "employees",
    "资质": "qualifications", "发展计划": "plans", "计划": "plans", "需求": "plans",
})


class InputError(ValueError):
    """A file we cannot read as asked; the message is for the user, in one line."""


def read_profile_file(path: str | Path) -> dict[str, Any]:
    """A JSON profile file → mapping (validation happens in ``parse_profile``)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"无法读取文件 {path}: {exc.strerror}") from None
    return profile_from_json(raw, str(path))


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
        raise InputError(f"{where}: 不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）") from None
    except RecursionError:
        raise InputError(f"{where}: JSON 嵌套层数过深；企业画像应为一层 {{\"字段\": 值}}") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: 企业画像应为 JSON 对象（{{\"字段\": 值}}），实际是 {type(data).__name__}")
    return data


def _decode_csv(raw: bytes) -> str:
    for enc in CSV_ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError("CSV 文件既不是 UTF-8 也不是 GBK 编码，请在 Excel 中另存为“CSV UTF-8”")


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8-BOM, GBK) or Excel file into a frame of raw strings."""
    if len(data) > MAX_BATCH_BYTES:
        raise InputError(f"文件过大（{len(data) / 1048576:.1f} MB，上限 {MAX_BATCH_BYTES // 1048576} MB），请拆分后上传")
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm"}:
            frame = pd.read_excel(io.BytesIO(data), dtype=object, engine="openpyxl")
        elif suffix in {".csv", ".txt"}:
            frame = pd.read_csv(io.StringIO(_decode_csv(data)), dtype=str, keep_default_na=False)
        else:
            raise InputError(f"不支持的文件类型“{suffix or filename}”：请上传 .csv 或 .xlsx")
    except InputError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for a broken file
        raise InputError(f"无法读取 {filename}：文件已损坏或格式不对（{type(exc).__name__}）") from None
    if len(frame) > MAX_BATCH_ROWS:
        raise InputError(f"行数过多（{len(frame)} 行，上限 {MAX_BATCH_ROWS}），请拆分后上传")
    return frame


@dataclass
class BatchInput:
    rows: list[tuple[int, dict[str, Any]]]  # (spreadsheet row number, raw mapping)
    column_map: dict[str, str]
    ignored_columns: list[str]


def map_columns(frame: pd.DataFrame) -> BatchInput:
    column_map: dict[str, str] = {}
    ignored: list[str] = []
    for col in frame.columns:
        name = str(col).strip().lstrip("\ufeff")
        key = name if name in PROFILE_FIELDS else COLUMN_ALIASES.get(name)
        if key and key not in column_map.values():
            column_map[str(col)] = key
        else:
            ignored.append(name)
    if not column_map:
        raise InputError(
            "文件中没有可识别的列：表头应为字段名（如 name, town, sector, annual_revenue_wan, plans）"
            f"或中文名（如 企业名称、所在镇街），实际表头为：{'、'.join(map(str, frame.columns[:10]))}"
        )
    rows = []
    for i, record in enumerate(frame.to_dict(orient="records")):
        mapped = {column_map[c]: v for c, v in record.items() if c in column_map and not is_blank(v)}
        if mapped:
            rows.append((i + 2, mapped))  # row 1 is the header, as Excel numbers it
    return BatchInput(rows, column_map, ignored)


@dataclass
class BatchResult:
    as_of: date
    summaries: list[dict[str, Any]] = field(default_factory=list)
    details: list[tuple] = field(default_factory=list)  # rows in DETAIL_COLUMNS order
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    results: list[tuple[int, MatchResult]] = field(default_factory=list)

    @property
    def ok_rows(self) -> int:
        return len(self.summaries)


def _profile_name(raw: dict[str, Any], row: int) -> str:
    name = raw.get("name")
    return str(name).strip() if not is_blank(name) else f"第{row}行"


PARALLEL_MIN_ROWS = 400  # below this, starting worker processes costs more than it saves
_worker_matcher: Matcher | None = None


def _rows_for(chunk: list[tuple[int, Profile, list[str]]], as_of: date, include_expired: bool,
              matcher: Matcher | None = None) -> list[tuple[dict[str, Any], list[tuple]]]:
    """Match a chunk of valid rows → (summary row, detail rows) per firm."""
    matcher = matcher or _worker_matcher or default_matcher()
    out = []
    results = matcher.match_many((profile for _, profile, _ in chunk), as_of=as_of, include_expired=include_expired)
    for (row, profile, warnings), result in zip(chunk, results, strict=True):
        result.warnings[:0] = warnings
        out.append((summary_row(row, profile, result), detail_rows(row, profile, result)))
    return out


def _parallel_rows(valid, as_of, include_expired, matcher, workers, chunk_size=200):
    """Yield (summary, details) per row, in order, computed by ``workers`` forked processes.

    Forking shares the already-fitted matcher with the workers; only the flat result rows
    travel back.
    """
    global _worker_matcher
    _worker_matcher = matcher
    chunks = [valid[i:i + chunk_size] for i in range(0, len(valid), chunk_size)]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for rows in pool.map(_rows_for, chunks, [as_of] * len(chunks), [include_expired] * len(chunks)):
            yield from rows


def run_batch(batch: BatchInput, *, as_of: date | str | None = None, include_expired: bool = False,
              matcher: Matcher | None = None, progress: Callable[..., Iterable] | None = None,
              keep_results: bool = False, workers: int | None = None) -> BatchResult:
    """Validate every row, then match the valid ones. Bad rows land in ``errors`` with the
    field, the value and the reason; they never stop the others. Large batches run on
    ``workers`` processes (default: the machine's cores, at most 4)."""
    matcher = matcher or default_matcher()
    out = BatchResult(as_of=parse_as_of(as_of), ignored_columns=batch.ignored_columns)
    valid: list[tuple[int, Profile, list[str]]] = []
    for row, raw in batch.rows:
        try:
            parsed = parse_profile(raw)
        except ProfileError as exc:
            for p in exc.problems:
                out.errors.append({"行号": row, "企业名称": _profile_name(raw, row), "字段": p.field,
                                   "填写的值": "" if p.value is None else str(p.value)[:200], "原因": p.message})
            continue
        valid.append((row, parsed.profile, parsed.warnings))
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if keep_results:
        results = matcher.match_many((profile for _, profile, _ in valid), as_of=out.as_of,
                                     include_expired=include_expired)
        for (row, _, warnings), result in zip(valid, results, strict=True):
            result.warnings[:0] = warnings
            out.results.append((row, result))
        rows: Iterable = ((summary_row(r, p, res), detail_rows(r, p, res))
                          for (r, p, _), (_, res) in zip(valid, out.results, strict=True))
    elif workers > 1 and len(valid) >= PARALLEL_MIN_ROWS:
        rows = _parallel_rows(valid, out.as_of, include_expired, matcher, workers)
    else:
        rows = iter(_rows_for(valid, out.as_of, include_expired, matcher))
    if progress is not None:
        rows = progress(rows, total=len(valid))
    for summary, details in rows:
        out.summaries.append(summary)
        out.details.extend(details)
    return out


def summary_row(row: int, profile: Profile, result: MatchResult) -> dict[str, Any]:
    """One firm's line: what it is advised to act on and the money it may plausibly count."""
    summary, money = result.summary, result.summary.money
    recommended = [p for p in result.policies if p.fit == "recommended"]
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
    }


def _num(x: float) -> float | int:
    r = round(x, 2)
    return int(r) if float(r).is_integer() else r


SUMMARY_COLUMNS = ["行号", "企业名称", "统一社会信用代码", "所在镇街", "推荐申报政策数", "普遍适用服务数", "其他可了解政策数",
                   "可以预期(万元)", "核实后可得(万元)", "竞争性最高可争取(万元)", "推荐政策", "临近截止", "只差人工核实",
                   "差一点就能享受", "建议", "提示"]
DETAIL_COLUMNS = ["行号", "企业名称", "政策排名", "政策编号", "政策名称", "推荐等级", "有效性", "有效期说明", "截止日期",
                  "事项编号", "支持事项", "结论", "金额性质", "可以预期(万元)", "最高可得(万元)", "金额计算", "不满足的条件",
                  "待确认的条件", "下一步", "主管部门", "联系方式", "来源"]
_BASIS_ZH = {"entitlement": "符合条件即可获得", "up_to": "竞争性（最高额度）", "cap_estimate": "按上限估算（未计入合计）"}


def detail_rows(row: int, profile: Profile, result: MatchResult) -> list[tuple]:
    """Item-level rows, as tuples in ``DETAIL_COLUMNS`` order (compact to pass between batch
    processes): the items the firm is advised to act on, and the near misses it could close;
    services, other and ruled-out items are counted in the summary sheet, not listed."""
    near = {n.item_id: n for n in result.near_misses}
    name = profile.name or f"第{row}行"
    out = []
    for rank, pol in enumerate(result.policies, 1):
        for it in pol.items:
            miss = near.get(it.item_id)
            if it.fit != "recommended" and miss is None:
                continue
            amount = it.amount_dict() or {}
            department = it.item.department or pol.policy.department or ""
            contact = it.item.contact or (pol.policy.contact if pol.policy.contact and
                                          pol.policy.contact.department == department else None)
            out.append((
                row, name, rank, pol.policy_id, pol.policy.title, FIT_ZH[it.fit], VALIDITY_ZH[it.validity.validity],
                it.validity.note + (f"（{it.validity.deadline_warning}）" if it.validity.deadline_warning else ""),
                it.validity.deadline.isoformat() if it.validity.deadline else "",
                it.item_id, it.item.title, STATUS_ZH[it.status], _BASIS_ZH.get(amount.get("basis"), ""),
                amount.get("low", ""), amount.get("high", "") if miss is None else miss.potential_high,
                amount.get("formula", "金额未公开或非资金类支持"),
                "；".join(c.reason for c in it.conditions if c.verdict == "unmet"),
                "；".join(c.reason for c in it.conditions if c.verdict == "unknown"),
                "；".join(c.text for c in miss.changes) if miss is not None else "；".join(it.hints),
                department, contact.text() if contact else "联系方式未公开",
                it.item.sources[0] if it.item.sources else "",
            ))
    return out


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
    """Write the results workbook: 企业汇总, 政策明细, 校验失败, 说明 (readable in Excel and WPS).

    Written with XlsxWriter, several times faster than openpyxl on tens of thousands of rows.
    """
    notes = [
        ("匹配基准日", result.as_of.isoformat()),
        ("成功匹配企业数", result.ok_rows),
        ("校验失败行数", len({e["行号"] for e in result.errors})),
        ("忽略的列", "、".join(result.ignored_columns) or "无"),
        ("说明", "金额单位为万元，只计入“推荐申报”的事项：“可以预期”为条件均已满足的定额或全额支持；"
                 "“核实后可得”为定额或全额支持但仍有条件待核实；“竞争性最高可争取”为“最高/不超过”额度，以评审核定为准。"
                 "政策明细列出推荐申报的事项和“差一点就能享受”的事项。"),
    ]
    sheets = {
        "企业汇总": pd.DataFrame(result.summaries, columns=SUMMARY_COLUMNS),
        "镇街汇总": pd.DataFrame(town_rows(result.summaries), columns=TOWN_COLUMNS),
        "政策明细": pd.DataFrame(result.details, columns=DETAIL_COLUMNS),
        "校验失败": pd.DataFrame(result.errors, columns=["行号", "企业名称", "字段", "填写的值", "原因"]),
        "说明": pd.DataFrame(notes, columns=["项目", "内容"]),
    }
    with pd.ExcelWriter(path, engine="xlsxwriter") as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=name, index=False)
            ws = xl.sheets[name]
            ws.freeze_panes(1, 0)
            for i, col in enumerate(frame.columns):
                sample = frame[col].head(200).astype(str).map(len).max() if len(frame) else 0
                width = max(len(str(col)) * 2, int(sample) * 1.6 if sample == sample else 8)
                ws.set_column(i, i, min(60, max(8, width)))


def template_frame() -> pd.DataFrame:
    """An example batch file with every contract column and two sample firms."""
    rows = [
        {"name": "示例灯饰有限公司", "town": "古镇镇", "registered_in_zhongshan": "是", "sector": "C",
         "industry": "灯饰照明制造", "above_scale": "是", "annual_revenue_wan": 12000, "revenue_growth_pct": 12,
         "qualifications": "高新技术企业;专精特新中小企业", "credit_ok": "是",
         "plans": "计划投入3000万上MES系统和自动化产线，建设数字化车间", "equipment_software_investment_wan": 3000},
        {"name": "示例跨境电商有限公司", "town": "石岐街道", "registered_in_zhongshan": "是", "sector": "F",
         "cross_border_ecommerce": "是", "cross_border_sales_usd_wan": 120, "independent_site_fee_wan": 40,
         "overseas_marketing_wan": 200, "plans": "做独立站和TikTok海外推广"},
    ]
    return pd.DataFrame(rows, columns=list(PROFILE_FIELDS))


def field_problem_lines(problems: list[FieldProblem]) -> str:
    return "；".join(p.line() for p in problems)


def profile_to_row(profile: Profile) -> dict[str, str]:
    return {k: format_value(k, v) for k, v in profile.known().items()}


__all__ = [
    "BatchInput", "BatchResult", "InputError", "QUALIFICATIONS", "TOWNS", "map_columns", "read_profile_file",
    "read_table", "run_batch", "template_frame", "write_workbook",
]
