"""Batch outputs written as the rows arrive: Excel workbook, CSV files, Parquet files.

Every output gets three tables — 企业汇总 (one row per firm), 政策明细 (item rows), 校验失败
(rows that were not matched) — and the workbook a fourth, 说明. The format follows the output
path's extension (:func:`check_output_path` is called before any row is read).

Safety: a cell written from a firm's upload is always inert text.
- **xlsx**: XlsxWriter with ``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers``
  off, and every text cell written with ``write_string``: ``=HYPERLINK(...)`` or
  ``=cmd|' /C calc'!A0`` stays a string in every sheet. Control characters that XML cannot hold
  are removed; cells longer than Excel's 32,767 characters are cut with a marker saying so;
  a table longer than Excel's 1,048,576 rows continues on 政策明细(2), 政策明细(3) …
  (said in 说明 and by the CLI). Written in XlsxWriter's ``constant_memory`` mode, so memory does
  not grow with the number of rows.
- **CSV**: UTF-8 with BOM (Excel and WPS open it correctly). A text cell that starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe ``'`` (the usual
  defence, recommended by OWASP for CSV files that a spreadsheet may open); numbers are written
  as numbers.
- **Parquet**: typed columns, text exactly as read (a data format, not opened by spreadsheets
  as formulas), for the next program in a pipeline.
"""

from __future__ import annotations

import contextlib
import gc
import io as _io
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io import DETAIL_COLUMNS, ERROR_COLUMNS, NUMERIC_COLUMNS, SUMMARY_COLUMNS, TOWN_COLUMNS
from .tables import InputError, clip, os_error_text

EXCEL_MAX_ROWS = 1_048_576  # including the header row
EXCEL_MAX_COLS = 16_384
EXCEL_MAX_CELL_CHARS = 32_767
OUTPUT_SUFFIXES = {".xlsx": "xlsx", ".csv": "csv", ".parquet": "parquet"}
TABLES = {"企业汇总": SUMMARY_COLUMNS, "镇街汇总": TOWN_COLUMNS, "政策明细": DETAIL_COLUMNS, "校验失败": ERROR_COLUMNS}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_text(value: str) -> tuple[str, bool]:
    """Text for one xlsx cell: XML-invalid control characters removed, cut to Excel's limit
    with a marker. Returns (text, truncated)."""
    if _XML_INVALID.search(value):
        value = _XML_INVALID.sub("", value)
    if len(value) <= EXCEL_MAX_CELL_CHARS:
        return value, False
    marker = f"…（已截断：原文 {len(value):,} 字，超过 Excel 单元格上限 {EXCEL_MAX_CELL_CHARS:,} 字）"
    return value[: EXCEL_MAX_CELL_CHARS - len(marker)] + marker, True


def csv_text(value: str) -> str:
    """Text for one CSV cell: a leading apostrophe where a spreadsheet would start a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def sibling_paths(path: Path) -> dict[str, Path]:
    """Where each table goes for CSV / Parquet: ``out.csv`` (企业汇总), ``out_镇街汇总.csv``,
    ``out_政策明细.csv``, ``out_校验失败.csv``."""
    return {t: path if t == "企业汇总" else path.with_name(f"{path.stem}_{t}{path.suffix}") for t in TABLES}


def output_format(path: Path) -> str:
    fmt = OUTPUT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"输出文件应为 .xlsx、.csv 或 .parquet：{clip(path, 120)}")
    return fmt


def _check_folder(folder: Path, shown: Path) -> None:
    if not folder.exists():
        raise InputError(f"输出目录不存在：{clip(folder, 120)}（请先创建该目录，或换一个输出路径：{clip(shown, 120)}）")
    if not folder.is_dir():
        raise InputError(f"输出路径的上级 {clip(folder, 120)} 不是目录")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".policy-match-check-"):
            pass
    except OSError as exc:
        raise InputError(f"无法写入输出目录 {clip(folder, 120)}：{os_error_text(exc)}") from None


def check_output_path(path: Path, *, directory: bool = False, inputs: Iterable[Path] = ()) -> str:
    """Check that the results can be written, before anything is matched. Returns the format
    (``xlsx`` / ``csv`` / ``parquet``, or ``dir`` for a partitioned output)."""
    path = Path(path)
    resolved_inputs = {Path(p).resolve() for p in inputs}
    if directory:
        if path.exists() and not path.is_dir():
            raise InputError(f"输出应为目录，但 {clip(path, 120)} 是文件")
        if path.exists():
            _check_folder(path, path)
        else:
            _check_folder(path.parent if str(path.parent) else Path("."), path)
        if path.resolve() in resolved_inputs:
            raise InputError(f"输出目录与输入相同：{clip(path, 120)}")
        return "dir"
    fmt = output_format(path)
    targets = [path] if fmt == "xlsx" else list(sibling_paths(path).values())
    _check_folder(path.parent if str(path.parent) else Path("."), path)
    for target in targets:
        if target.resolve() in resolved_inputs:
            raise InputError(f"输出文件与输入文件相同：{clip(target, 120)}（会覆盖企业名单）")
        if target.is_dir():
            raise InputError(f"输出路径 {clip(target, 120)} 是已有的目录，请写一个文件名")
        if target.exists() and not os.access(target, os.W_OK):
            raise InputError(f"无法覆盖已有文件 {clip(target, 120)}：没有写入权限")
    return fmt


# --------------------------------------------------------------------------------------
# Arrow conversion (also used in the worker processes: arrow batches travel cheaply)
# --------------------------------------------------------------------------------------


def arrow_schema(columns: list[str]):
    import pyarrow as pa

    kinds = {int: pa.int64(), float: pa.float64()}
    return pa.schema([pa.field(c, kinds.get(NUMERIC_COLUMNS.get(c), pa.string())) for c in columns])


def _number(value: Any, kind: type) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"列的值应为数字：{value!r}")
    return kind(value)


def to_arrow(rows: list[tuple], columns: list[str]):
    """Rows (tuples in ``columns`` order) → a pyarrow RecordBatch with the fixed schema."""
    import pyarrow as pa

    schema = arrow_schema(columns)
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    arrays = []
    for name, values in zip(columns, cols, strict=True):
        kind = NUMERIC_COLUMNS.get(name)
        arrow_type = schema.field(name).type
        try:  # the common case: text is str, numbers are numbers ("" = no amount)
            data = values if kind is None else [None if v == "" else v for v in values]
            if kind is not None and any(isinstance(v, bool) for v in data):
                raise TypeError("bool in a numeric column")
            arrays.append(pa.array(data, type=arrow_type))
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass
        if kind is None:
            data = [None if v is None else v if isinstance(v, str) else str(v) for v in values]
        else:
            data = [_number(v, kind) for v in values]
        arrays.append(pa.array(data, type=arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def from_arrow(batch) -> list[tuple]:
    cols = [c.to_pylist() for c in batch.columns]
    return list(zip(*cols, strict=True))


def _rows(table: Any, columns: list[str]) -> list[tuple]:
    return table if isinstance(table, list) else from_arrow(table)


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


@dataclass
class OutputReport:
    """What was written, for the CLI and the 说明 sheet."""

    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    sheets: dict[str, list[str]] = field(default_factory=dict)  # table → sheet names (xlsx)
    truncated_cells: int = 0

    def split_lines(self) -> list[str]:
        return [f"{table}共 {self.rows.get(table, 0):,} 行，超过 Excel 单个工作表上限 {EXCEL_MAX_ROWS - 1:,} 行，"
                f"已分为 {len(names)} 个工作表：{'、'.join(names)}"
                for table, names in self.sheets.items() if len(names) > 1]


class _SheetSeries:
    """One table over as many worksheets as Excel's row limit needs. The first sheet is made at
    once (sheets appear in the order they are made); column widths follow the first rows."""

    def __init__(self, writer: XlsxOutput, title: str, columns: list[str], max_rows: int):
        if len(columns) > EXCEL_MAX_COLS:
            raise ValueError(f"{title}: {len(columns)} columns exceed Excel's {EXCEL_MAX_COLS}")
        self.writer, self.title, self.columns, self.max_rows = writer, title, columns, max_rows
        self.names: list[str] = []
        self.total = 0
        self._sized = False
        self._new_sheet()

    def _new_sheet(self) -> None:
        if self.names:
            self.finish()
        name = self.title if not self.names else f"{self.title}({len(self.names) + 1})"
        ws = self.writer.book.add_worksheet(name)
        ws.freeze_panes(1, 0)
        for i, col in enumerate(self.columns):
            ws.write_string(0, i, col, self.writer.header_format)
            ws.set_column(i, i, min(60, max(8, len(col) * 2)))
        self.names.append(name)
        self.ws, self.row = ws, 1
        self._sized = False

    def finish(self) -> None:
        """Filters over the current sheet's header and rows (the header is frozen from the start)."""
        self.ws.autofilter(0, 0, max(self.row - 1, 0), len(self.columns) - 1)

    def _size(self, sample: list[tuple]) -> None:
        for i, col in enumerate(self.columns):
            lengths = [len(str(r[i])) for r in sample[:200] if r[i] is not None]
            width = max(len(col) * 2, (max(lengths) if lengths else 4) * 1.6)
            self.ws.set_column(i, i, min(60, max(8, width)))
        self._sized = True

    def write(self, rows: list[tuple]) -> None:
        if rows and not self._sized:
            self._size(rows)
        text = self.writer.text
        for n, values in enumerate(rows):
            if self.row >= self.max_rows:
                self._new_sheet()
                self._size(rows[n:])
            ws, r = self.ws, self.row
            for c, v in enumerate(values):
                if v is None or v == "":
                    continue
                if isinstance(v, str):
                    ws.write_string(r, c, text(v))
                elif isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, (int, float)) and v == v and v not in (float("inf"), float("-inf")):
                    ws.write_number(r, c, v)
                else:
                    ws.write_string(r, c, text(str(v)))
            self.row += 1
        self.total += len(rows)


class XlsxOutput:
    """The results workbook: 企业汇总, 镇街汇总, 政策明细 (split as needed), 校验失败, 说明.

    Sheets appear in the order they are made: 企业汇总, 镇街汇总 and 政策明细 at once (in
    constant-memory mode each sheet streams its own rows, so 镇街汇总 can be filled at the end),
    then any 政策明细(2) … as rows arrive, then 校验失败 and 说明 at ``close`` (the failed rows
    are spooled to a temporary file until then, so memory stays flat).
    """

    format = "xlsx"

    def __init__(self, path: str | Path | _io.BytesIO, *, max_rows: int = EXCEL_MAX_ROWS):
        import xlsxwriter

        self.path = path
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close/abort
        self.book = xlsxwriter.Workbook(path, {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False,
        })
        self.header_format = self.book.add_format({"bold": True})
        self.report = OutputReport()
        self.max_rows = max_rows
        self.series = {t: _SheetSeries(self, t, TABLES[t], max_rows) for t in ("企业汇总", "镇街汇总", "政策明细")}
        self._error_count = 0

    def text(self, value: str) -> str:
        value, cut = excel_text(value)
        if cut:
            self.report.truncated_cells += 1
        return value

    def write(self, summaries: Any, details: Any, errors: list[tuple]) -> None:
        self.series["企业汇总"].write(_rows(summaries, SUMMARY_COLUMNS))
        self.series["政策明细"].write(_rows(details, DETAIL_COLUMNS))
        if errors:
            pickle.dump(errors, self._errors, protocol=pickle.HIGHEST_PROTOCOL)
            self._error_count += len(errors)

    def close(self, notes: list[tuple[str, Any]], towns: list[dict[str, Any]] = ()) -> OutputReport:
        series = self.series
        series["镇街汇总"].write([tuple(t.get(c) for c in TOWN_COLUMNS) for t in towns])
        self._errors.seek(0)
        errors = series["校验失败"] = _SheetSeries(self, "校验失败", ERROR_COLUMNS, self.max_rows)
        while True:
            try:
                errors.write(pickle.load(self._errors))
            except EOFError:
                break
        self._errors.close()
        for table, s in series.items():
            s.finish()
            self.report.rows[table] = s.total
            self.report.sheets[table] = s.names
        lines = list(notes)
        lines += [("工作表拆分", line) for line in self.report.split_lines()]
        if self.report.truncated_cells:
            lines.append(("截断的单元格", f"{self.report.truncated_cells:,} 个单元格超过 Excel 上限 "
                                       f"{EXCEL_MAX_CELL_CHARS:,} 字，已截断并注明原文字数"))
        lines.append(("安全", "所有文字按文本保存：以 = + - @ 开头的内容不会作为公式或链接执行"))
        ws = self.book.add_worksheet("说明")
        ws.freeze_panes(1, 0)
        ws.set_column(0, 0, 16)
        ws.set_column(1, 1, 100)
        ws.write_string(0, 0, "项目", self.header_format)
        ws.write_string(0, 1, "内容", self.header_format)
        for r, (key, value) in enumerate(lines, 1):
            ws.write_string(r, 0, self.text(str(key)))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(r, 1, value)
            else:
                ws.write_string(r, 1, self.text(str(value)))
        self._close_book()
        if isinstance(self.path, (str, Path)):
            self.report.files = [Path(self.path)]
        return self.report

    def _close_book(self) -> None:
        """Close the workbook; a failed final write becomes a plain OSError / InputError.

        XlsxWriter leaves its zip file open when the write fails, and the zip's destructor
        would later print a traceback about the same error: it is collected here, quietly."""
        from xlsxwriter.exceptions import FileCreateError, FileSizeError

        failure: Exception | None = None
        hook = sys.unraisablehook
        sys.unraisablehook = lambda _unraisable: None
        try:
            try:
                self.book.close()
            except FileCreateError as exc:  # XlsxWriter wraps the OSError of the final write
                cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
                failure = OSError(cause.errno, cause.strerror) if cause is not None else OSError(str(exc))
                cause = None  # drop the frames that hold XlsxWriter's open zip, then collect it
            except FileSizeError:
                failure = InputError("结果超过 .xlsx 文件的大小上限（单个部件 4 GB）：请改用 -o 结果.parquet 或 结果.csv")
            except OSError as exc:
                failure = OSError(exc.errno, exc.strerror)
            gc.collect()
        finally:
            sys.unraisablehook = hook
        if failure is not None:
            raise failure

    def abort(self) -> None:
        try:
            self._errors.close()
        finally:
            if isinstance(self.path, (str, Path)):
                Path(self.path).unlink(missing_ok=True)


class CsvOutput:
    """Three CSV files (UTF-8 with BOM), formula-neutralised; see the module docstring."""

    format = "csv"

    def __init__(self, path: Path):
        import csv

        self.paths = sibling_paths(Path(path))
        self.files = {t: open(p, "w", encoding="utf-8-sig", newline="") for t, p in self.paths.items()}  # noqa: SIM115
        self.writers = {t: csv.writer(f) for t, f in self.files.items()}
        for table, columns in TABLES.items():
            self.writers[table].writerow(columns)
        self.report = OutputReport()
        self.report.rows = dict.fromkeys(TABLES, 0)

    @staticmethod
    def _cells(rows: list[tuple]) -> Iterable[list]:
        for values in rows:
            yield ["" if v is None else csv_text(v) if isinstance(v, str) else v for v in values]

    def write(self, summaries: Any, details: Any, errors: list[tuple]) -> None:
        for table, rows in (("企业汇总", _rows(summaries, SUMMARY_COLUMNS)), ("政策明细", _rows(details, DETAIL_COLUMNS)),
                            ("校验失败", errors)):
            self.writers[table].writerows(self._cells(rows))
            self.report.rows[table] += len(rows)

    def close(self, notes: list[tuple[str, Any]], towns: list[dict[str, Any]] = ()) -> OutputReport:
        rows = [tuple(t.get(c) for c in TOWN_COLUMNS) for t in towns]
        self.writers["镇街汇总"].writerows(self._cells(rows))
        self.report.rows["镇街汇总"] = len(rows)
        for f in self.files.values():
            f.close()
        self.report.files = list(self.paths.values())
        return self.report

    def abort(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(OSError):  # a full disk fails the flush again
                f.close()
        for p in self.paths.values():
            p.unlink(missing_ok=True)


ROW_GROUP_ROWS = 50_000


class ParquetOutput:
    """Three Parquet files with fixed, typed schemas (numbers as int64/float64, text as string).

    Chunks are gathered into row groups of about ``row_group_rows`` rows before they are written:
    a row group per 250-row chunk would leave a million-firm file with thousands of tiny groups,
    whose metadata the writer holds until the end (memory growing with the input) and every
    reader pays for. Statistics are kept for the numeric columns only (min/max of long texts
    help no reader and weigh on the metadata)."""

    format = "parquet"

    def __init__(self, path: Path, row_group_rows: int = ROW_GROUP_ROWS):
        import pyarrow.parquet as pq

        self.row_group_rows = row_group_rows
        self.paths = sibling_paths(Path(path))
        self.writers = {t: pq.ParquetWriter(self.paths[t], arrow_schema(cols), compression="zstd",
                                            write_statistics=[c for c in cols if c in NUMERIC_COLUMNS])
                        for t, cols in TABLES.items()}
        self.pending: dict[str, list] = {t: [] for t in TABLES}
        self.report = OutputReport()
        self.report.rows = dict.fromkeys(TABLES, 0)

    def write_towns(self, towns: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        batch = to_arrow([tuple(t.get(c) for c in TOWN_COLUMNS) for t in towns], TOWN_COLUMNS)
        self.writers["镇街汇总"].write_table(pa.Table.from_batches([batch]))
        self.report.rows["镇街汇总"] = batch.num_rows

    def write(self, summaries: Any, details: Any, errors: list[tuple]) -> None:
        for table, data in (("企业汇总", summaries), ("政策明细", details), ("校验失败", errors)):
            batch = data if not isinstance(data, list) else to_arrow(data, TABLES[table])
            if batch.num_rows:
                self.pending[table].append(batch)
                self.report.rows[table] += batch.num_rows
                if sum(b.num_rows for b in self.pending[table]) >= self.row_group_rows:
                    self._flush(table)

    def _flush(self, table: str) -> None:
        import pyarrow as pa

        if self.pending[table]:
            self.writers[table].write_table(pa.Table.from_batches(self.pending[table]),
                                            row_group_size=2 * self.row_group_rows)
            self.pending[table] = []

    def close(self, notes: list[tuple[str, Any]], towns: list[dict[str, Any]] = ()) -> OutputReport:
        for table in self.pending:
            self._flush(table)
        self.write_towns(towns)
        for w in self.writers.values():
            w.close()
        self.report.files = list(self.paths.values())
        return self.report

    def abort(self) -> None:
        for w in self.writers.values():
            with contextlib.suppress(Exception):  # the file is removed next anyway
                w.close()
        for p in self.paths.values():
            p.unlink(missing_ok=True)


def open_output(path: str | Path | _io.BytesIO, fmt: str | None = None):
    """The writer for ``path``'s extension (or ``fmt`` for an in-memory workbook)."""
    if isinstance(path, _io.BytesIO):
        return XlsxOutput(path)
    fmt = fmt or output_format(Path(path))
    return {"xlsx": XlsxOutput, "csv": CsvOutput, "parquet": ParquetOutput}[fmt](Path(path))
