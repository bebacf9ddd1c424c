"""Reading batch files safely and in chunks: CSV, Excel (.xlsx) and Parquet.

Everything here assumes the file may be hostile (a firm's upload forwarded by a bureau):

- **Encoding** (CSV): UTF-8 (with or without BOM), GB18030 (a superset of GBK/GB2312) or Big5,
  detected on the bytes, never guessed silently; which one was used is reported in ``notes``.
- **Excel**: the zip is inspected *before* parsing — member count, each member's and the total
  uncompressed size, and the compression ratio — so a decompression bomb is refused without
  being unpacked. Then the sheet is streamed with openpyxl ``read_only``. Only the first sheet
  is read (row numbers in the results refer to one sheet); every other sheet is named in a note.
- **Limits**: columns, characters per cell (Excel's own 32,767) and, where asked, rows.
- **Rows**: a CSV row with more fields than the header, or a cell over the length limit, is
  reported as a problem row (its row number and why) and the other rows go on. A NUL
  character is removed with a warning naming the row and the column.
- **Messages** quote at most a few column names, each clipped, so a 1 GB header never reaches
  the screen.

The reader yields :class:`InputRow` chunks in file order; nothing holds the whole file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import numbers
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from .fields import PROFILE_FIELDS


class InputError(ValueError):
    """A file we cannot read as asked; the message is for the user, in one line."""


# Column headers accepted in batch files besides the contract's names: the form's labels and
# what people write in their own sheets. Looked up after normalising (NFKC, no spaces, a unit in
# brackets split off), so "营业收入（亿元）", "营业收入(万元)" and " 员工人数 " all resolve.
COLUMN_ALIASES: dict[str, str] = {info.label: name for name, info in PROFILE_FIELDS.items()}
COLUMN_ALIASES.update({
    "企业名称": "name", "名称": "name", "公司名称": "name", "单位名称": "name", "企业全称": "name",
    "统一社会信用代码": "credit_code", "信用代码": "credit_code", "社会信用代码": "credit_code",
    "镇街": "town", "所在镇街": "town", "所属镇街": "town", "镇区": "town", "所在镇区": "town", "所属镇区": "town",
    "注册地在中山": "registered_in_zhongshan", "是否在中山注册": "registered_in_zhongshan",
    "成立年份": "founded_year", "成立年度": "founded_year",
    "行业门类": "sector", "门类": "sector", "行业": "industry", "主营业务": "industry", "主营产品": "industry",
    "是否规上": "above_scale", "规上": "above_scale", "规模以上": "above_scale", "是否规模以上企业": "above_scale",
    "升规年份": "newly_above_scale_year",
    "营业收入": "annual_revenue_wan", "年营业收入": "annual_revenue_wan", "上年营业收入": "annual_revenue_wan",
    "营收": "annual_revenue_wan",
    "营收增长": "revenue_growth_pct", "营收增长率": "revenue_growth_pct", "营业收入增长率": "revenue_growth_pct",
    "营业收入增速": "revenue_growth_pct", "营业收入同比增长": "revenue_growth_pct",
    "从业人数": "employees", "从业人员": "employees", "从业人员数": "employees", "员工人数": "employees",
    "员工数": "employees", "职工人数": "employees", "人数": "employees",
    "实缴资本": "paid_in_capital_wan", "地方经济贡献": "local_contribution_wan",
    "研发费用": "rd_expense_wan", "研发投入": "rd_expense_wan",
    "资质": "qualifications", "资质认定": "qualifications", "企业资质": "qualifications",
    "上市阶段": "listing_stage", "运营主体身份": "operator_roles",
    "信用良好": "credit_ok", "无失信记录": "credit_ok",
    "发展计划": "plans", "计划": "plans", "需求": "plans", "发展需求": "plans",
    "计划投资": "planned_investment_wan", "固定资产投资": "planned_investment_wan",
    "设备投入": "equipment_software_investment_wan", "设备软件投入": "equipment_software_investment_wan",
    "贷款利息": "loan_interest_wan", "项目贷款利息": "loan_interest_wan",
    "首次购地": "buying_land_first_time", "工改搬迁": "relocating_from_renovation_area",
    "是否工改搬迁": "relocating_from_renovation_area", "租赁面积": "leased_area_m2",
    "新址租赁面积": "leased_area_m2", "搬迁后租赁面积": "leased_area_m2",
    "数字化水平": "digital_level", "数字化等级": "digital_level",
    "跨境电商": "cross_border_ecommerce", "是否跨境电商": "cross_border_ecommerce",
    "跨境电商交易额": "cross_border_sales_usd_wan", "跨境电商销售额": "cross_border_sales_usd_wan",
    "独立站费用": "independent_site_fee_wan", "独立站服务费": "independent_site_fee_wan",
    "境外推广费用": "overseas_marketing_wan", "海外推广费用": "overseas_marketing_wan",
    "境外数字营销费用": "overseas_marketing_wan",
})
# A bracket after a column name holds its unit ("营业收入（亿元）") or a remark ("规上（是/否）").
_BRACKETED = re.compile(r"^(?P<name>.+?)[(\[【〔〖<《]\s*(?:单位[:：]?)?(?P<note>[^)\]】〕〗>》]*)[)\]】〕〗>》]$")
_HEADER_REMARKS = {"选填", "必填", "可选", "可不填", "非必填"}
# Units written straight after the name, longest first ("营业收入万元", "员工人数人" is not split).
_TRAILING_UNITS = ("万美元", "亿美元", "美元", "亿元", "万元", "千元", "元", "万平方米", "平方米", "㎡", "%")


def _header_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).lstrip("\ufeff")
    return re.sub(r"\s+", "", key)


_ALIAS_KEYS: dict[str, str] = {_header_key(k): v for k, v in COLUMN_ALIASES.items()}


def _lookup(name: str) -> str | None:
    if name in PROFILE_FIELDS:
        return name
    if name.lower() in PROFILE_FIELDS:
        return name.lower()
    return _ALIAS_KEYS.get(name)


def header_field(header: object) -> tuple[str | None, str]:
    """A column header → (profile field or ``None``, the unit or remark written with it).

    "营业收入（亿元）" → ("annual_revenue_wan", "亿元"); "员工人数" → ("employees", "");
    "规模以上企业(是/否)" → ("above_scale", "是/否"); "备注" → (None, "")."""
    key = _header_key("" if header is None else str(header))
    if not key:
        return None, ""
    found = _lookup(key)
    if found:
        return found, ""
    bracketed = _BRACKETED.match(key)
    if bracketed:
        found = _lookup(bracketed.group("name"))
        if found:
            return found, bracketed.group("note")
    for sep in ("/", "-", "——"):
        name, _, note = key.rpartition(sep)
        if name and note in _TRAILING_UNITS and _lookup(name):
            return _lookup(name), note
    for unit in _TRAILING_UNITS:
        if key.endswith(unit) and _lookup(key[: -len(unit)]):
            return _lookup(key[: -len(unit)]), unit
    return None, ""


def header_unit(header: str, field: str, note: str) -> str | None:
    """The unit a column's plain numbers are in, when it is not the field's own (``None``: read
    them as they are). A unit that cannot be converted exactly into the field's unit raises
    :class:`InputError` naming the column: the file is refused rather than read in a wrong unit."""
    info = PROFILE_FIELDS[field]
    if not note or info.kind not in {"int", "float"} or note in _HEADER_REMARKS or any(c.isdigit() for c in note):
        return None  # "规上（是/否）", "营业收入（2025年）": a remark, not a unit
    from .profile import read_quantity

    try:
        factor = read_quantity("1" + note, info.unit)[0]
    except ValueError as exc:
        if "无法识别" in str(exc):
            raise InputError(f"“{clip(header, 30)}”列括号中的“{clip(note, 10)}”不是可识别的单位（{info.label}的单位为"
                             f"{info.unit}）：请把表头改为“{info.label}（{info.unit}）”或去掉括号") from None
        raise InputError(f"“{clip(header, 30)}”列的单位无法换算：{exc}") from None
    return None if factor == 1 else note


# The header of the batch template's 说明 sheet (io.write_template): that sheet is the template's
# own instructions, not a list of firms left unread.
TEMPLATE_NOTE_COLUMNS = ("列名", "含义", "怎么填", "字段名（程序用）")

CSV_SUFFIXES = {".csv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
INPUT_SUFFIXES = CSV_SUFFIXES | XLSX_SUFFIXES | PARQUET_SUFFIXES

MAX_COLUMNS = 500  # a firm list has a few dozen; more is a broken or hostile file
MAX_CELL_CHARS = 32_767  # Excel's own limit per cell
MAX_KEPT_CHARS = 200  # of a column kept for the output (走访人, 备注): enough to recognise it
CSV_MAX_FIELD = 16 * 1024 * 1024  # the csv module's hard stop; longer cells fail the whole file
ENCODING_SAMPLE_BYTES = 1024 * 1024
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（带 BOM）", "gb18030": "GB18030（兼容 GBK）",
                  "cp950": "Big5（繁体）"}


@dataclass(frozen=True)
class XlsxLimits:
    """What an .xlsx may unpack to before we parse it. A real firm list of 100,000 rows is
    ~100–300 MB of sheet XML at a ratio of 5–30; the 1 MB "shared strings" bomb of the
    hardening issue unpacks to gigabytes at a ratio in the thousands."""

    max_members: int = 1_000
    max_member_bytes: int = 1024 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_shared_strings_bytes: int = 256 * 1024 * 1024  # openpyxl holds this table in memory
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1024 * 1024  # small members may compress as well as they like


DEFAULT_XLSX_LIMITS = XlsxLimits()


def clip(text: object, limit: int = 30) -> str:
    """One value, cut to ``limit`` characters for a message."""
    text = str(text).replace("\n", " ").replace("\r", " ").replace("\x00", "")
    return text if len(text) <= limit else text[:limit] + "…"


_OS_ERRORS = {"ENOSPC": "磁盘空间不足", "EACCES": "没有写入权限", "EPERM": "没有写入权限", "ENOENT": "路径不存在",
              "EROFS": "只读文件系统", "EISDIR": "是目录", "ENOTDIR": "上级不是目录", "EDQUOT": "超出磁盘配额"}


_READ_ERRORS = {"ENOENT": "文件不存在", "EACCES": "没有读取权限", "EPERM": "没有读取权限", "EISDIR": "这是一个文件夹，不是文件"}


def os_error_text(exc: OSError, *, reading: bool = False) -> str:
    """An OSError in Chinese, without the path (the caller names the file it meant)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    text = (_READ_ERRORS.get(name) if reading else None) or _OS_ERRORS.get(name)
    return text or ("无法读取" if reading else "无法写入") + (f"（错误码 {name}）" if name else "")


def preview_columns(columns: list[object], shown: int = 8, each: int = 20) -> str:
    """The first few column names, each clipped: what a message may quote of a header."""
    names = [clip(c, each) for c in columns[:shown]]
    more = f" 等共 {len(columns)} 列" if len(columns) > shown else ""
    return "、".join(names) + more


class InputRow(NamedTuple):
    """One data row: its spreadsheet row number (the header is row 1, as Excel numbers it), the
    recognised values (blank cells left out), warnings about how it was read, and — when the
    row cannot be used at all — a problem in ``ERROR_COLUMNS`` order (行号, 企业名称, 字段, 填写的值, 原因)."""

    row: int
    values: dict[str, Any]
    warnings: tuple[str, ...] = ()
    problem: tuple | None = None
    extras: tuple[tuple[str, str], ...] = ()  # (header, text) of the bureau's own columns, kept for the output


@dataclass
class ColumnMap:
    header: list[str]
    fields: dict[int, str]  # column position → profile field
    ignored: list[str]
    units: dict[int, str] = field(default_factory=dict)  # column position → the unit its numbers are in
    notes: list[str] = field(default_factory=list)  # how the header was read (units converted, repeats)
    kept: dict[int, str] = field(default_factory=dict)  # column position → header of a column not read but kept


def map_header(header: list[object]) -> ColumnMap:
    """Header names → profile fields: the contract's names, the form's labels or what people
    write ("营业收入（亿元）", "员工人数", full-width brackets, spaces), see :func:`header_field`.
    A unit in the header is applied to the column's plain numbers (亿元 → ×10000 into a 万元
    field); one that cannot be converted refuses the file, naming the column. The first column
    naming a field wins; a repeated or unknown column is ignored (and reported)."""
    if len(header) > MAX_COLUMNS:
        raise InputError(f"表头有 {len(header)} 列，超过上限 {MAX_COLUMNS} 列：请只保留企业信息的列"
                         f"（前几列为：{preview_columns(header)}）")
    names = ["" if h is None else str(h).strip().lstrip("\ufeff") for h in header]
    fields: dict[int, str] = {}
    units: dict[int, str] = {}
    notes: list[str] = []
    ignored: list[str] = []
    first_column: dict[str, str] = {}
    kept: dict[int, str] = {}
    for i, name in enumerate(names):
        key, note = header_field(name)
        if key is None:
            if name:
                ignored.append(name)
                kept[i] = name  # the bureau's own column (走访人, 备注): not matched, written back as it is
            continue
        if key in first_column:
            ignored.append(name)
            kept[i] = name
            notes.append(f"“{clip(name, 20)}”列与“{clip(first_column[key], 20)}”列都是{PROFILE_FIELDS[key].label}，"
                         "只读取了前一列")
            continue
        unit = header_unit(name, key, note)
        fields[i] = key
        first_column[key] = name
        if unit is not None:
            units[i] = unit
            notes.append(f"“{clip(name, 20)}”列按{unit}填写，已换算为{PROFILE_FIELDS[key].unit}"
                         f"（如 {_example(unit, key)}）")
    if not fields:
        raise InputError(
            "文件中没有可识别的列：表头应为模板中的中文列名（如 企业名称、所在镇街、上年度营业收入（万元））"
            f"或字段名（如 name, town, annual_revenue_wan），实际表头为：{preview_columns(names) or '（空）'}"
        )
    return ColumnMap(names, fields, ignored, units, notes, kept)


def _example(unit: str, key: str) -> str:
    from .profile import read_quantity

    info = PROFILE_FIELDS[key]
    value = read_quantity("1.5" + unit, info.unit)[0]
    return f"1.5{unit} 按 {value:.10g}{info.unit} 计"


def convert_cell(value: Any, unit: str, key: str) -> Any:
    """A cell of a column whose header names ``unit``: a plain number is read in that unit and
    converted (exactly) to the field's; a value with its own unit ("5亿"), or one that is not a
    number, is left for the profile parser to read or reject."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, numbers.Real):
        text = repr(float(value)) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if not math.isfinite(float(text)):
                return value
        except ValueError:
            return value  # "5亿", "约3000", "": the parser reads the cell's own unit or rejects it
    else:
        return value
    from .profile import read_quantity

    try:
        number = read_quantity(text + unit, PROFILE_FIELDS[key].unit)[0]
    except ValueError:
        return value
    return int(number) if PROFILE_FIELDS[key].kind == "int" and number.is_integer() else number


def normalise_cell(value: Any) -> Any:
    """A cell from any reader (csv, openpyxl, pyarrow, pandas) → str / int / float / bool / None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if type(value).__name__ in {"NAType", "NaTType"}:  # pandas' missing values (pd.NA, pd.NaT)
        return None
    item = getattr(value, "item", None)  # numpy / pandas scalars
    if item is not None and not isinstance(value, (int, float)):
        try:
            value = item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (int, bool)):
        return value
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def build_row(row: int, cells: list[Any] | tuple, columns: ColumnMap) -> InputRow | None:
    """Cells of one row → an :class:`InputRow` (``None`` for an empty row)."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    problem = None
    width = len(cells)
    for i, key in columns.fields.items():
        if i >= width:
            continue
        value = normalise_cell(cells[i])
        if i in columns.units:
            value = convert_cell(value, columns.units[i], key)
        if isinstance(value, str):
            if "\x00" in value:
                value = value.replace("\x00", "")
                warnings.append(f"第{row}行“{clip(columns.header[i], 20)}”列含有空字符（NUL），已删除后读取")
            if len(value) > MAX_CELL_CHARS and problem is None:
                problem = (PROFILE_FIELDS[key].label, f"{clip(value, 40)}", f"内容有 {len(value):,} 字，超过单元格上限 {MAX_CELL_CHARS:,} 字，本行未匹配")
        if not _blank(value):
            values[key] = value
    if not values and problem is None:
        return None
    if problem is not None:
        name = values.get("name")
        name = clip(name, 60) if isinstance(name, str) and len(name) <= MAX_CELL_CHARS else f"第{row}行"
        return InputRow(row, {}, tuple(warnings), (row, name, *problem))
    extras = []
    for i, header in columns.kept.items():
        if i < width and not _blank(value := normalise_cell(cells[i])):
            extras.append((header, clip(str(value).replace("\x00", ""), MAX_KEPT_CHARS)))
    return InputRow(row, values, tuple(warnings), None, tuple(extras))


def _ragged_problem(row: int, line: int, cells: list[str], columns: ColumnMap) -> InputRow | None:
    """A CSV row with more fields than the header: the cells cannot be placed, so the row is
    reported (row and line number, how many fields) instead of guessing which column moved."""
    extra = [c for c in cells[len(columns.header):] if c.strip()]
    if not extra:
        return None  # trailing empty fields (",,,") are harmless
    name_pos = next((i for i, k in columns.fields.items() if k == "name"), None)
    name = clip(cells[name_pos], 60) if name_pos is not None and name_pos < len(cells) and cells[name_pos].strip() else f"第{row}行"
    where = f"（文件第 {line} 行）" if line != row else ""
    reason = (f"本行有 {len(cells)} 个字段，表头只有 {len(columns.header)} 列{where}：可能有未加引号的逗号，"
              "无法确定各值属于哪一列，本行未匹配")
    return InputRow(row, {}, (), (row, name, "（整行）", clip("，".join(extra), 60), reason))


# --------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------


def _strict_decodes(sample: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(sample, final=False)  # the sample may end inside a character
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (BOM or not), GB18030 or Big5 (as cp950) for the start of a CSV file.

    UTF-8 is decided by a strict decode (GB18030 and Big5 text is almost never valid UTF-8).
    Between GB18030 and Big5 — the same bytes often decode both ways — charset-normalizer
    weighs which reading is coherent text; a tie goes to GB18030, the encoding Excel uses on
    mainland Chinese Windows.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("CSV 文件是 UTF-16 编码：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”后再上传")
    if _strict_decodes(sample, "utf-8"):
        return "utf-8"
    candidates = [enc for enc in ("gb18030", "cp950") if _strict_decodes(sample, enc)]
    if not candidates:
        raise InputError("CSV 文件既不是 UTF-8，也不是 GBK/GB18030 或 Big5 编码：请在 Excel 中另存为“CSV UTF-8”")
    if len(candidates) == 1:
        return candidates[0]
    from charset_normalizer import from_bytes

    matches = {m.encoding: m for m in from_bytes(sample, cp_isolation=["gb18030", "big5", "cp950"])}
    gb = matches.get("gb18030")
    big5 = matches.get("cp950") or matches.get("big5")
    if big5 is not None and (gb is None or big5.chaos < gb.chaos - 1e-9):
        return "cp950"
    return "gb18030"


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


@dataclass
class TableReader:
    """An opened batch file: its header mapping and notes, and its rows (read once, in order)."""

    filename: str
    columns: ColumnMap
    rows: Iterator[InputRow]
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None
    _close: Any = None

    @property
    def column_map(self) -> dict[str, str]:
        return {self.columns.header[i]: key for i, key in self.columns.fields.items()}

    @property
    def ignored_columns(self) -> list[str]:
        return self.columns.ignored

    def chunks(self, size: int = 500) -> Iterator[list[InputRow]]:
        chunk: list[InputRow] = []
        for row in self.rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def _limited(rows: Iterator[InputRow], max_rows: int | None) -> Iterator[InputRow]:
    if max_rows is None:
        yield from rows
        return
    for n, row in enumerate(rows, 1):
        if n > max_rows:
            raise InputError(f"行数过多（超过 {max_rows:,} 行），请拆分后上传")
        yield row


def _binary(source: Path | bytes) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    try:
        return open(source, "rb")  # noqa: SIM115 - closed by the reader
    except OSError as exc:
        raise InputError(f"无法读取 {source}：{os_error_text(exc, reading=True)}") from None


def open_csv(source: Path | bytes, filename: str) -> TableReader:
    raw = _binary(source)
    sample = raw.read(ENCODING_SAMPLE_BYTES)
    raw.seek(0)
    encoding = detect_encoding(sample)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
    csv.field_size_limit(CSV_MAX_FIELD)
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        text.close()
        raise _csv_failure(filename, 1, exc, encoding) from None
    if header is None:
        text.close()
        raise InputError(f"{clip(filename, 60)} 是空文件：第一行应为表头")
    columns = map_header(header)

    def rows() -> Iterator[InputRow]:
        row = 1
        try:
            for cells in reader:
                row += 1
                if len(cells) > len(columns.header):
                    bad = _ragged_problem(row, reader.line_num, cells, columns)
                    if bad is not None:
                        yield bad
                        continue
                built = build_row(row, cells, columns)
                if built is not None:
                    yield built
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _csv_failure(filename, reader.line_num, exc, encoding) from None
        finally:
            text.close()

    notes = [f"按 {ENCODING_NAMES[encoding]} 编码读取"]
    return TableReader(filename, columns, rows(), notes, encoding, text.close)


def _csv_failure(filename: str, line: int, exc: Exception, encoding: str) -> InputError:
    if isinstance(exc, UnicodeDecodeError):
        return InputError(f"{clip(filename, 60)} 第 {line} 行附近的内容不是 {ENCODING_NAMES[encoding]} 编码："
                          "文件可能混用了多种编码，请在 Excel 中另存为“CSV UTF-8”")
    if "field larger" in str(exc):
        return InputError(f"{clip(filename, 60)} 第 {line} 行附近有一个超过 {CSV_MAX_FIELD // 1048576} MB 的单元格"
                          "（可能是缺少右引号）：请检查该行")
    return InputError(f"{clip(filename, 60)} 第 {line} 行无法按 CSV 读取（{clip(exc, 60)}）")


def inspect_xlsx(archive: zipfile.ZipFile, filename: str, limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> None:
    """Refuse a workbook whose zip would unpack to too much, before anything is unpacked."""
    members = archive.infolist()
    name = clip(filename, 60)
    if len(members) > limits.max_members:
        raise InputError(f"{name} 内含 {len(members):,} 个部件，超过上限 {limits.max_members:,}：不像正常的 Excel 文件")
    total = 0
    for m in members:
        size = m.file_size
        total += size
        if size > limits.max_member_bytes:
            raise InputError(f"{name} 解压后过大（部件 {clip(m.filename, 40)} 有 {size / 1048576:,.0f} MB，"
                             f"上限 {limits.max_member_bytes // 1048576:,} MB）：请拆分后上传")
        if m.filename.endswith("sharedStrings.xml") and size > limits.max_shared_strings_bytes:
            raise InputError(f"{name} 的文本表解压后有 {size / 1048576:,.0f} MB，超过上限 "
                             f"{limits.max_shared_strings_bytes // 1048576} MB：请拆分后上传")
        if size > limits.ratio_floor_bytes and size > limits.max_ratio * max(m.compress_size, 1):
            raise InputError(f"{name} 的压缩比异常（部件 {clip(m.filename, 40)} 从 {m.compress_size / 1024:,.0f} KB "
                             f"解压为 {size / 1048576:,.0f} MB）：疑似压缩炸弹，未读取")
    if total > limits.max_total_bytes:
        raise InputError(f"{name} 解压后共 {total / 1048576:,.0f} MB，超过上限 {limits.max_total_bytes // 1048576:,} MB："
                         "请拆分后上传")


def open_xlsx(source: Path | bytes, filename: str, limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> TableReader:
    import openpyxl

    raw = _binary(source)
    name = clip(filename, 60)
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, ValueError):
        raw.close()
        raise InputError(f"无法读取 {name}：不是有效的 .xlsx 文件（文件已损坏，或是 .xls 等其他格式）") from None
    try:
        inspect_xlsx(archive, filename, limits)
        archive.close()
        raw.seek(0)
        book = openpyxl.load_workbook(raw, read_only=True, data_only=True)
    except InputError:
        raw.close()
        raise
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raw.close()
        raise InputError(f"无法读取 {name}：文件已损坏或格式不对（{type(exc).__name__}）") from None
    sheets = book.worksheets
    if not sheets:
        book.close()
        raise InputError(f"{name} 中没有工作表")
    sheet = sheets[0]
    notes = _other_sheet_notes(sheet.title, sheets[1:])
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()  # a forged <dimension> would pad every row to its width
    try:
        row_iter = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        header = list(next(row_iter, None) or ())
    except Exception as exc:
        book.close()
        raise InputError(f"无法读取 {name}：文件已损坏或格式不对（{type(exc).__name__}）") from None
    while header and header[-1] is None:
        header.pop()
    if not header:
        book.close()
        raise InputError(f"{name} 的第一个工作表是空的：第一行应为表头")
    if len(header) > MAX_COLUMNS:
        book.close()
        raise InputError(f"{name} 的表头超过 {MAX_COLUMNS} 列：请只保留企业信息的列（前几列为：{preview_columns(header)}）")
    columns = map_header(header)

    def rows() -> Iterator[InputRow]:
        try:
            for row, cells in enumerate(row_iter, 2):
                built = build_row(row, cells, columns)
                if built is not None:
                    yield built
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"无法读取 {name}：文件已损坏或格式不对（{type(exc).__name__}）") from None
        finally:
            book.close()

    return TableReader(filename, columns, rows(), notes, None, book.close)


def _other_sheet_notes(first: str, others: list[Any]) -> list[str]:
    """Name every further sheet that has content, and say which look like firm lists.

    Only the first sheet is read: the results' row numbers must point at one sheet, and a
    workbook's other sheets are as often notes or pivots as more firms. Nothing is skipped
    silently: the user is told which sheets were not read and how to run them.
    """
    with_rows, with_firms = [], []
    for ws in others[:50]:
        try:
            head = next(ws.iter_rows(values_only=True, max_row=1, max_col=MAX_COLUMNS), ())
        except Exception:
            head = ("?",)
        cells = [c for c in head if c is not None and str(c).strip()]
        if not cells or tuple(str(c).strip() for c in cells) == TEMPLATE_NOTE_COLUMNS:
            continue
        with_rows.append(ws.title)
        if any(header_field(c)[0] for c in cells):
            with_firms.append(ws.title)
    if len(others) > 50:
        with_rows.append(f"另 {len(others) - 50} 个")
    if not with_rows:
        return []
    listed = "、".join(f"“{clip(t, 20)}”" for t in with_rows[:6]) + (" 等" if len(with_rows) > 6 else "")
    note = f"只读取了第一个工作表“{clip(first, 20)}”；未读取的工作表：{listed}"
    if with_firms:
        firms = "、".join(f"“{clip(t, 20)}”" for t in with_firms[:6])
        note += f"。其中 {firms} 也有企业信息的列：请把这些企业移到第一个工作表，或另存为单独文件后再匹配（结果中的行号指第一个工作表）"
    return [note]


def _parquet_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in PARQUET_SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"目录 {clip(source, 80)} 中没有 .parquet 文件")
        return files
    return [source]


def open_parquet(source: Path | bytes, filename: str, batch_rows: int = 2_000) -> TableReader:
    """A Parquet file (or a directory of part files, read in name order) in record batches."""
    import pyarrow.parquet as pq

    sources: list[Any] = [io.BytesIO(bytes(source))] if isinstance(source, (bytes, bytearray)) else _parquet_files(Path(source))
    try:
        files = [pq.ParquetFile(s) for s in sources]
    except Exception as exc:
        raise InputError(f"无法读取 {clip(filename, 60)}：不是有效的 Parquet 文件（{clip(exc, 60)}）") from None
    header = files[0].schema_arrow.names
    for f, s in zip(files[1:], sources[1:], strict=True):
        if f.schema_arrow.names != header:
            raise InputError(f"{clip(s, 80)} 的列与第一个文件不同：分区文件应有相同的列")
    columns = map_header(header)
    positions = sorted([*columns.fields, *columns.kept])
    wanted = [columns.header[i] for i in positions]
    local = ColumnMap(wanted, {n: columns.fields[i] for n, i in enumerate(positions) if i in columns.fields},
                      columns.ignored, {n: columns.units[i] for n, i in enumerate(positions) if i in columns.units},
                      [], {n: columns.kept[i] for n, i in enumerate(positions) if i in columns.kept})

    def rows() -> Iterator[InputRow]:
        row = 1
        try:
            for f in files:
                for batch in f.iter_batches(batch_size=batch_rows, columns=wanted):
                    cols = [c.to_pylist() for c in batch.columns]
                    for cells in zip(*cols, strict=True):
                        row += 1
                        built = build_row(row, cells, local)
                        if built is not None:
                            yield built
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"无法读取 {clip(filename, 60)} 第 {row} 行附近：{clip(exc, 60)}") from None

    return TableReader(filename, columns, rows(), [], None)


def open_table(source: Path | bytes, filename: str | None = None, *, max_rows: int | None = None,
               xlsx_limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> TableReader:
    """Open a batch file (a path or the uploaded bytes) by its extension. File-level problems
    raise :class:`InputError` here, before any row is matched."""
    filename = filename or str(source)
    suffix = Path(filename).suffix.lower()
    if suffix in CSV_SUFFIXES:
        reader = open_csv(source, filename)
    elif suffix in XLSX_SUFFIXES:
        reader = open_xlsx(source, filename, xlsx_limits)
    elif suffix in PARQUET_SUFFIXES or (isinstance(source, Path) and source.is_dir()):
        reader = open_parquet(source, filename)
    else:
        raise InputError(f"不支持的文件类型“{clip(suffix or filename, 30)}”：请上传 .csv、.xlsx 或 .parquet")
    reader.rows = _limited(reader.rows, max_rows)
    reader.notes = [*reader.columns.notes, *reader.notes]
    return reader
