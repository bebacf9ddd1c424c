"""The streaming batch: read in chunks, validate and match in chunks, write as you go.

    reader (tables.py) ──chunks of InputRow──▶ process_chunk (here; in worker processes)
        ──(summary tuples | arrow batch, detail tuples | arrow batch, error tuples)──▶ writer (outputs.py)

Memory is bounded by the chunks in flight, not by the number of firms. With ``workers > 1``
the fitted matcher is shared with forked worker processes: the parent freezes its heap
(``gc.freeze()``) before forking so the workers' collector never touches — and so never
copies — the matcher's pages; the workers run with a raised collector threshold (the match
path makes few reference cycles); only small rows travel back. Results come back in input
order. The same ``process_chunk`` runs on a Dask cluster (``dask_batch.py``).
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .fields import field_label
from .io import DETAIL_COLUMNS, SUMMARY_COLUMNS, TownTotals, detail_rows, summary_row
from .matcher import Matcher, MatchResult, default_matcher, parse_as_of
from .profile import ProfileError, is_blank, parse_profile
from .tables import InputRow, TableReader, clip

CHUNK_ROWS = 250
PARALLEL_MIN_ROWS = 400  # below this, starting worker processes costs more than it saves
_worker_matcher: Matcher | None = None


@dataclass
class ChunkOutput:
    """One chunk's rows, ready for a writer: tuples in the column order of io.py (or pyarrow
    batches when ``arrow``), the failed rows, and the MatchResults when asked for."""

    summaries: Any
    details: Any
    errors: list[tuple]
    rows_in: int
    matched: int
    towns: TownTotals
    results: list[tuple[int, MatchResult]] | None = None


def _firm_name(values: dict[str, Any], row: int) -> str:
    name = values.get("name")
    return clip(name, 100) if not is_blank(name) else f"第{row}行"


def process_chunk(rows: list[InputRow], as_of: date, include_expired: bool = False, *, arrow: bool = False,
                  keep_results: bool = False, matcher: Matcher | None = None) -> ChunkOutput:
    """Validate and match one chunk. A row that fails validation lands in ``errors`` with the
    field, the value and the reason; it never stops the others."""
    matcher = matcher or _worker_matcher or default_matcher()
    errors: list[tuple] = []
    valid = []
    for r in rows:
        if r.problem is not None:
            errors.append(r.problem)
            continue
        try:
            parsed = parse_profile(r.values)
        except ProfileError as exc:
            name = _firm_name(r.values, r.row)
            for p in exc.problems:
                errors.append((r.row, name, field_label(p.field), "" if p.value is None else str(p.value)[:200], p.message))
            continue
        valid.append((r.row, parsed.profile, [*r.warnings, *parsed.warnings], r.extras))
    summaries: list[tuple] = []
    details: list[tuple] = []
    kept = [] if keep_results else None
    towns = TownTotals()
    results = matcher.match_many((p for _, p, _, _ in valid), as_of=as_of, include_expired=include_expired)
    for (row, profile, warnings, extras), result in zip(valid, results, strict=True):
        result.warnings[:0] = warnings
        summary = summary_row(row, profile, result, extras)
        towns.add(summary)
        summaries.append(tuple(summary.get(c) for c in SUMMARY_COLUMNS))
        details.extend(detail_rows(row, profile, result))
        if kept is not None:
            kept.append((row, result))
    if arrow:
        from .outputs import to_arrow

        return ChunkOutput(to_arrow(summaries, SUMMARY_COLUMNS), to_arrow(details, DETAIL_COLUMNS), errors,
                           len(rows), len(valid), towns, kept)
    return ChunkOutput(summaries, details, errors, len(rows), len(valid), towns, kept)


def _init_worker() -> None:
    # Objects inherited from the parent are frozen there; what the worker allocates is
    # short-lived rows, so a high threshold keeps the collector out of the hot loop.
    gc.set_threshold(100_000, 50, 100)


def _chunk_task(args: tuple) -> ChunkOutput:
    rows, as_of, include_expired, arrow = args
    return process_chunk(rows, as_of, include_expired, arrow=arrow)


def ordered_chunks(chunks: Iterable[list[InputRow]], *, as_of: date, include_expired: bool, matcher: Matcher,
                   workers: int, arrow: bool = False, keep_results: bool = False,
                   in_flight: int | None = None) -> Iterator[ChunkOutput]:
    """Process chunks in order, on ``workers`` forked processes (1 = in this process). At
    most ``in_flight`` chunks are pending at once, so reading never runs ahead of matching."""
    chunks = iter(chunks)
    head: list[list[InputRow]] = []
    if workers > 1 and not keep_results:  # a small file is not worth starting processes for
        for rows in chunks:
            head.append(rows)
            if sum(map(len, head)) >= PARALLEL_MIN_ROWS:
                break
        else:
            workers = 1
    chunks = itertools.chain(head, chunks)
    if workers <= 1 or keep_results:
        for rows in chunks:
            yield process_chunk(rows, as_of, include_expired, arrow=arrow, keep_results=keep_results,
                                matcher=matcher)
        return
    global _worker_matcher
    _worker_matcher = matcher
    gc.collect()
    gc.freeze()
    pending: deque = deque()
    limit = in_flight or 3 * workers
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
            for rows in chunks:
                pending.append(pool.submit(_chunk_task, (rows, as_of, include_expired, arrow)))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        gc.unfreeze()
        _worker_matcher = None


def default_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass
class BatchStats:
    as_of: date
    rows_in: int = 0
    matched: int = 0
    failed_rows: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    report: Any = None  # outputs.OutputReport


def stream_batch(reader: TableReader, writer: Any, *, as_of: date | str | None = None, include_expired: bool = False,
                 matcher: Matcher | None = None, workers: int | None = None, chunk_rows: int = CHUNK_ROWS,
                 progress: Callable[[int], None] | None = None) -> BatchStats:
    """Run a whole file through the matcher into ``writer`` (outputs.XlsxOutput / CsvOutput /
    ParquetOutput). ``progress(rows_done)`` is called after every chunk. On any failure the
    partial output is removed and the exception propagates."""
    started = time.perf_counter()
    matcher = matcher or default_matcher()
    stats = BatchStats(as_of=parse_as_of(as_of), notes=list(reader.notes))
    workers = default_workers() if workers is None else workers
    arrow = getattr(writer, "format", "") == "parquet"
    failed: set[int] = set()
    towns = TownTotals()
    try:
        for out in ordered_chunks(reader.chunks(chunk_rows), as_of=stats.as_of, include_expired=include_expired,
                                  matcher=matcher, workers=workers, arrow=arrow):
            writer.write(out.summaries, out.details, out.errors)
            stats.rows_in += out.rows_in
            stats.matched += out.matched
            towns.merge(out.towns)
            failed.update(e[0] for e in out.errors)
            if progress is not None:
                progress(stats.rows_in)
        stats.failed_rows = len(failed)
        stats.report = writer.close(batch_notes(stats, reader), towns.rows())
    except BaseException:
        writer.abort()
        raise
    finally:
        reader.close()
    stats.seconds = time.perf_counter() - started
    return stats


def batch_notes(stats: BatchStats, reader: TableReader | None = None, ignored: list[str] | None = None) -> list[tuple[str, Any]]:
    """The rows of the workbook's 说明 sheet."""
    ignored = ignored if ignored is not None else (reader.ignored_columns if reader is not None else [])
    lines: list[tuple[str, Any]] = [
        ("匹配基准日", stats.as_of.isoformat()),
        ("成功匹配企业数", stats.matched),
        ("校验失败行数", stats.failed_rows),
        ("未参与匹配的列（内容写入企业汇总“原表其他列”）", "、".join(clip(c, 30) for c in ignored[:30]) or "无"),
    ]
    lines += [("读取说明", note) for note in stats.notes]
    lines.append(("说明", "金额单位为万元，只计入“推荐申报”的事项：“可以预期”为条件均已满足的定额或全额支持；"
                        "“核实后可得”为定额或全额支持但仍有条件待核实；“竞争性最高可争取”为“最高/不超过”额度，以评审核定为准。"
                        "政策明细列出推荐申报的事项和“差一点就能享受”的事项。"))
    return lines
