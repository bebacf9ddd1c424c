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
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from .fields import PROFILE_FIELDS


class InputError(ValueError):
    """A file we cannot read as asked; the message is for the user, in one line."""


# Chinese column headers accepted in batch files (the form's labels and a few common ones).
COLUMN_ALIASES: dict[str, str] = {info.label: name for name, info in PROFILE_FIELDS.items()}
COLUMN_ALIASES.update({
    "企业名称": "name", "名称": "name", "统一社会信用代码": "credit_code", "信用代码": "credit_code",
    "镇街": "town", "所在镇街": "town", "行业门类": "sector", "行业": "industry", "主营业务": "industry",
    "是否规上": "above_scale", "规上": "above_scale", "营业收入": "annual_revenue_wan",
    "营收": "annual_revenue_wan", "营收增长": "revenue_growth_pct", "从业人数": "employees",
    "资质": "qualifications", "发展计划": "plans", "计划": "plans", "需求": "plans",
})

CSV_SUFFIXES = {".csv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
INPUT_SUFFIXES = CSV_SUFFIXES | XLSX_SUFFIXES | PARQUET_SUFFIXES

MAX_COLUMNS = 500  # a firm list has a few dozen; more is a broken or hostile file
MAX_CELL_CHARS = 32_767  # Excel's own limit per cell
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


def os_error_text(exc: OSError) -> str:
    """An OSError in Chinese, without the path (the caller names the file it meant)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return _OS_ERRORS.get(name) or exc.strerror or type(exc).__name__


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


@dataclass
class ColumnMap:
    header: list[str]
    fields: dict[int, str]  # column position → profile field
    ignored: list[str]


def map_header(header: list[object]) -> ColumnMap:
    """Header names → profile fields (contract names or the Chinese labels). The first column
    naming a field wins; a repeated or unknown column is ignored (and reported)."""
    if len(header) > MAX_COLUMNS:
        raise InputError(f"表头有 {len(header)} 列，超过上限 {MAX_COLUMNS} 列：请只保留企业信息的列"
                         f"（前几列为：{preview_columns(header)}）")
    names = ["" if h is None else str(h).strip().lstrip("\ufeff") for h in header]
    fields: dict[int, str] = {}
    ignored: list[str] = []
    for i, name in enumerate(names):
        key = name if name in PROFILE_FIELDS else COLUMN_ALIASES.get(name)
        if key and key not in fields.values():
            fields[i] = key
        elif name:
            ignored.append(name)
    if not fields:
        raise InputError(
            "文件中没有可识别的列：表头应为字段名（如 name, town, sector, annual_revenue_wan, plans）"
            f"或中文名（如 企业名称、所在镇街），实际表头为：{preview_columns(names) or '（空）'}"
        )
    return ColumnMap(names, fields, ignored)


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
        if isinstance(value, str):
            if "\x00" in value:
                value = value.replace("\x00", "")
                warnings.append(f"第{row}行“{clip(columns.header[i], 20)}”列含有空字符（NUL），已删除后读取")
            if len(value) > MAX_CELL_CHARS and problem is None:
                problem = (key, f"{clip(value, 40)}", f"内容有 {len(value):,} 字，超过单元格上限 {MAX_CELL_CHARS:,} 字，本行未匹配")
        if not _blank(value):
            values[key] = value
    if not values and problem is None:
        return None
    if problem is not None:
        name = values.get("name")
        name = clip(name, 60) if isinstance(name, str) and len(name) <= MAX_CELL_CHARS else f"第{row}行"
        return InputRow(row, {}, tuple(warnings), (row, name, *problem))
    return InputRow(row, values, tuple(warnings))


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
        raise InputError(f"无法读取 {source}：{exc.strerror}") from None


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
        if not cells:
            continue
        with_rows.append(ws.title)
        names = [str(c).strip() for c in cells]
        if any(n in PROFILE_FIELDS or n in COLUMN_ALIASES for n in names):
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
    wanted = [columns.header[i] for i in sorted(columns.fields)]
    positions = sorted(columns.fields)
    local = ColumnMap(wanted, {n: columns.fields[i] for n, i in enumerate(positions)}, columns.ignored)

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
    return reader
