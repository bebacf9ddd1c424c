"""The batch on a Dask cluster: the same chunks as the local engine, past one machine.

    policy-match batch IN --engine dask [--scheduler tcp://HOST:8786] -o OUT_DIR

``IN`` is a CSV or Parquet file, a directory of part files, or a glob (``firms/*.parquet``).
Dask reads the partitions on the workers (``dask.dataframe.read_csv`` / ``read_parquet``); each
partition runs through the very ``batch.process_chunk`` the local engine uses and is written
by its worker as one part file per table::

    OUT_DIR/企业汇总/part-00000.parquet   OUT_DIR/政策明细/part-00000.parquet   OUT_DIR/校验失败/part-00000.parquet

Read back in part order, the tables equal the local engine's ``-o out.parquet`` files (the same
schema, the same rows in the same order). 行号 is the row's position in the input as a
spreadsheet would number it (header = 1), counted across the part files in name order.

Without ``--scheduler`` a ``LocalCluster`` (one single-threaded worker process per core, bound
to 127.0.0.1) runs the job. On a real cluster the workers need this package installed and
must see ``IN`` and ``OUT_DIR`` at the same path (shared storage). Hostile-file handling
(encoding detection, ragged-row reports, xlsx inspection) is the local reader's: the Dask
engine expects the clean, partitioned tables a data platform produces, and a file pandas
cannot parse fails the job with its message. CSV partitions are cut at line ends, so a cell
with a line break inside quotes needs Parquet input (or the local engine).

This module is imported only by ``policy-match batch --engine dask``; ``match``, the app and
the local batch never import Dask.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from .batch import CHUNK_ROWS, default_workers, process_chunk
from .io import DETAIL_COLUMNS, ERROR_COLUMNS, SUMMARY_COLUMNS, TOWN_COLUMNS, TownTotals
from .tables import (
    CSV_SUFFIXES,
    ENCODING_SAMPLE_BYTES,
    PARQUET_SUFFIXES,
    ColumnMap,
    InputError,
    build_row,
    clip,
    detect_encoding,
    map_header,
)

TABLES = {"企业汇总": SUMMARY_COLUMNS, "政策明细": DETAIL_COLUMNS, "校验失败": ERROR_COLUMNS}  # one part per partition
OUT_TABLES = [*TABLES, "镇街汇总"]  # 镇街汇总: the partitions' town totals, summed on the client
CSV_BLOCKSIZE = "16MB"  # ~30–60k firms per partition: a worker holds one partition's input at a time


def input_files(source: Path) -> tuple[list[str], str]:
    """The part files of ``source`` in name order, and their kind (``csv`` / ``parquet``)."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text))
    elif source.is_dir():
        files = sorted(str(p) for p in source.iterdir() if p.is_file() and p.suffix.lower() in CSV_SUFFIXES | PARQUET_SUFFIXES)
    elif source.is_file():
        files = [text]
    else:
        raise InputError(f"无法读取 {clip(source, 120)}：文件或目录不存在")
    if not files:
        raise InputError(f"{clip(source, 120)} 中没有 .csv 或 .parquet 文件")
    kinds = {"parquet" if Path(f).suffix.lower() in PARQUET_SUFFIXES else "csv" if Path(f).suffix.lower() in CSV_SUFFIXES
             else "other" for f in files}
    if len(kinds) != 1 or "other" in kinds:
        raise InputError(f"{clip(source, 120)}：--engine dask 的输入应全部为 .csv 或全部为 .parquet 文件")
    return files, kinds.pop()


def _prepare_out_dir(out_dir: Path) -> dict[str, Path]:
    dirs = {t: out_dir / t for t in OUT_TABLES}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("part-*.parquet"):
            old.unlink()  # a rerun replaces the previous parts instead of mixing with them
    return dirs


def run_partition(frame: Any, index: int, first_row: int, header: list[str], fields: dict[int, str],
                  as_of: date, include_expired: bool, out_dirs: dict[str, str],
                  units: dict[int, str] | None = None,
                  kept: dict[int, str] | None = None) -> tuple[int, int, int, TownTotals]:
    """On a worker: one input partition → one part file per table. Returns (rows, matched, failed
    rows, town totals). ``units``: the header's units by column (``ColumnMap.units``)."""
    import pyarrow.parquet as pq

    from .outputs import arrow_schema

    columns = ColumnMap(header, fields, [], dict(units or {}), [], dict(kept or {}))
    writers = {t: pq.ParquetWriter(Path(out_dirs[t]) / f"part-{index:05d}.parquet", arrow_schema(cols), compression="zstd")
               for t, cols in TABLES.items()}
    rows_in = matched = 0
    failed: set[int] = set()
    towns = TownTotals()
    try:
        chunk = []
        cells_iter = frame.itertuples(index=False, name=None)
        for n, cells in enumerate(cells_iter):
            built = build_row(first_row + n, cells, columns)
            if built is not None:
                chunk.append(built)
            if len(chunk) >= CHUNK_ROWS:
                rows_in, matched = _write_chunk(chunk, as_of, include_expired, writers, rows_in, matched, failed, towns)
                chunk = []
        if chunk:
            rows_in, matched = _write_chunk(chunk, as_of, include_expired, writers, rows_in, matched, failed, towns)
    finally:
        for w in writers.values():
            w.close()
    return rows_in, matched, len(failed), towns


def _write_chunk(chunk, as_of, include_expired, writers, rows_in, matched, failed, towns):
    import pyarrow as pa

    from .outputs import to_arrow

    out = process_chunk(chunk, as_of, include_expired, arrow=True)
    for table, batch in (("企业汇总", out.summaries), ("政策明细", out.details),
                         ("校验失败", to_arrow(out.errors, ERROR_COLUMNS))):
        if batch.num_rows:
            writers[table].write_table(pa.Table.from_batches([batch]))
    failed.update(e[0] for e in out.errors)
    towns.merge(out.towns)
    return rows_in + out.rows_in, matched + out.matched


def _write_towns(counts: tuple, folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .outputs import to_arrow

    towns = TownTotals()
    for part in counts:
        towns.merge(part[3])
    rows = [tuple(t.get(c) for c in TOWN_COLUMNS) for t in towns.rows()]
    pq.write_table(pa.Table.from_batches([to_arrow(rows, TOWN_COLUMNS)]), folder / "part-00000.parquet",
                   compression="zstd")


def _partition_length(frame: Any) -> int:
    return len(frame)


def run_dask(source: Path, out_dir: Path, *, as_of: date, include_expired: bool = False, scheduler: str | None = None,
             workers: int | None = None, log: Callable[[str], None] | None = None,
             csv_blocksize: str | int | None = CSV_BLOCKSIZE) -> dict[str, Any]:
    """Run a batch as a dask.distributed job; see the module docstring."""
    import dask
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    log = log or (lambda _m: None)
    files, kind = input_files(Path(source))
    if kind == "csv":
        with open(files[0], "rb") as f:
            encoding = detect_encoding(f.read(ENCODING_SAMPLE_BYTES))
        ddf = dd.read_csv(files, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
                          encoding=encoding, blocksize=csv_blocksize)
    else:
        ddf = dd.read_parquet(files)
    header = [str(c) for c in ddf.columns]
    columns = map_header(header)
    for note in columns.notes:
        log(note)
    if columns.ignored:
        log(f"无法识别的列 {'、'.join(clip(c, 20) for c in columns.ignored[:10])} 不参与匹配，内容原样写入企业汇总的“原表其他列”")
    out_dirs = {t: str(p) for t, p in _prepare_out_dir(Path(out_dir)).items()}
    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        log(f"Dask 集群：{client.scheduler.address}，{len(client.scheduler_info()['workers'])} 个 worker，"
            f"{ddf.npartitions} 个分区")
        lengths = ddf.map_partitions(_partition_length, meta=(None, "int64")).compute()
        offsets, first = [], 2
        for n in lengths:
            offsets.append(first)
            first += int(n)
        parts = ddf.to_delayed()
        fields = dict(columns.fields)
        tasks = [dask.delayed(run_partition)(part, i, offsets[i], header, fields, as_of, include_expired, out_dirs,
                                             dict(columns.units), dict(columns.kept))
                 for i, part in enumerate(parts)]
        counts = dask.compute(*tasks)
        _write_towns(counts, Path(out_dirs["镇街汇总"]))
    except (InputError, OSError):
        raise
    except Exception as exc:  # a parse error on a worker arrives as the original exception
        raise InputError(f"Dask 作业失败：{type(exc).__name__}: {clip(exc, 200)}") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return {"rows": sum(c[0] for c in counts), "matched": sum(c[1] for c in counts),
            "failed_rows": sum(c[2] for c in counts), "partitions": len(counts),
            "seconds": time.perf_counter() - started, "files": files}
