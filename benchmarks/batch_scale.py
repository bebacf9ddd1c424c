"""Batch at scale: throughput, firms scaling, memory, Excel limits, Dask vs local.

    python benchmarks/batch_scale.py [--quick] [--only NAME ...] [--json OUT.json] [--keep DIR]

Every figure is a whole `policy-match batch` process (python -m policy_match batch …) run as a
child of this script: wall time from start to exit, and peak memory two ways —
``max_rss_mb``: the largest single process (getrusage of the children), and ``tree_rss_mb``:
the largest sum of RSS over the CLI and its worker processes, sampled every 0.1 s (an upper
bound: forked workers share the parent's pages and each counts them again).

Synthetic firms are the evaluation profiles with their numbers jittered and a firm number in
the plan text, so no cache sees the same firm twice. Benchmarks (NAME):

- ``workers``: 10k firms CSV → Parquet with --workers 1 and 2 (firms/s);
- ``scaling``: 1k / 10k / 100k firms, input CSV, xlsx and Parquet → Parquet; 1M firms for CSV and
  Parquet input (not in --quick);
- ``outputs``: 100k firms CSV → xlsx and → CSV (the 2 GB target, and the cost of each writer);
- ``excel``: 25,000 firms CSV → xlsx, read back with openpyxl (every firm in 企业汇总, 政策明细
  split at Excel's row limit) and, when installed, converted by LibreOffice headless;
- ``dask``: the same 20k firms as partitioned Parquet, local engine vs ``--engine dask`` on a
  2-worker LocalCluster.

Targets (issue 11) are printed beside the figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from firms import jittered_firms  # noqa: E402

TARGETS = {"firms_per_s_2proc": 3000, "100k_parquet_s": 60, "peak_mb": 2048}


def firm_rows(n: int, seed: int = 7):
    """(header, rows) of n synthetic firms as strings, in the contract's field names."""
    from policy_match.evaluate import load_cases

    profiles = [c["profile"] for c in load_cases()]
    keys = sorted({k for p in profiles for k in p} | {"name"})
    def rows():
        for p in jittered_firms(n, seed, profiles):
            out = []
            for k in keys:
                v = p.get(k)
                out.append("" if v is None else ("是" if v else "否") if isinstance(v, bool)
                           else ";".join(v) if isinstance(v, list) else str(v))
            yield out

    return keys, rows()


def write_input(path: Path, n: int, parts: int = 1) -> Path:
    """Write n firms as CSV, xlsx or Parquet (``parts`` > 1: a directory of Parquet part files)."""
    keys, rows = firm_rows(n)
    if path.suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(keys)
            w.writerows(rows)
    elif path.suffix == ".xlsx":
        import xlsxwriter

        book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                          "strings_to_formulas": False, "strings_to_urls": False})
        ws = book.add_worksheet("企业")
        ws.write_row(0, 0, keys)
        for r, row in enumerate(rows, 1):
            for c, v in enumerate(row):
                if v:
                    ws.write_string(r, c, v)
        book.close()
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        per_part = -(-n // parts)
        if parts > 1:
            path.mkdir(parents=True, exist_ok=True)
        batch: list[list[str]] = []
        part = 0
        writer = None
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000 or (parts > 1 and len(batch) == per_part):
                writer, part = _flush(pa, pq, batch, keys, path, parts, writer, part, per_part)
                batch = []
        if batch:
            writer, part = _flush(pa, pq, batch, keys, path, parts, writer, part, per_part)
        if writer is not None:
            writer.close()
    return path


def _flush(pa, pq, batch, keys, path, parts, writer, part, per_part):
    table = pa.table({k: [r[i] or None for r in batch] for i, k in enumerate(keys)})
    if parts > 1:
        pq.write_table(table, path / f"part-{part:03d}.parquet")
        return None, part + 1
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
    return writer, part


def run_cli(*args: str) -> dict:
    """One whole `policy-match batch` process: wall time and peak memory (see module docstring)."""
    import psutil

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys; p=subprocess.run(sys.argv[1:]); "
               "u=resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print('MAXRSS', u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr); "
               "sys.exit(p.returncode)",
               sys.executable, "-m", "policy_match", "batch", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(wrapper, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    top = psutil.Process(proc.pid)
    tree_peak = 0
    while proc.poll() is None:
        try:
            procs = [top, *top.children(recursive=True)]
            tree_peak = max(tree_peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    usage = next((line.split()[1:] for line in err.splitlines() if line.startswith("MAXRSS")), ["0", "0"])
    if proc.returncode != 0:
        raise RuntimeError(f"policy-match batch {' '.join(args)} failed: {err[-2000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(float(usage[1]), 1), "max_rss_mb": round(int(usage[0]) / 1024),
            "tree_rss_mb": round(tree_peak / 1048576), "load_avg_1min": round(os.getloadavg()[0], 1),
            "stdout": out.strip().splitlines()[-1] if out.strip() else ""}


def bench_workers(tmp: Path, n: int) -> dict:
    src = write_input(tmp / f"w{n}.csv", n)
    out = {}
    for workers in ("1", "2"):
        r = run_cli(str(src), "-o", str(tmp / f"w{workers}.parquet"), "--as-of", "2026-11-27", "--workers", workers)
        r["firms_per_s"] = round(n / r["wall_s"])
        r["firms_per_cpu_s"] = round(n / r["cpu_s"])
        out[f"{workers}proc"] = r
    out["speedup"] = round(out["2proc"]["firms_per_s"] / out["1proc"]["firms_per_s"], 2)
    return out


def _to_parquet(tmp: Path, n: int, kind: str, keep_output: bool = True) -> dict:
    """One whole `policy-match batch` run: n firms as ``kind`` → Parquet; the input is removed after."""
    src = write_input(tmp / f"s{n}.{kind}", n)
    r = run_cli(str(src), "-o", str(tmp / f"s{n}-{kind}-out.parquet"), "--as-of", "2026-11-27")
    r["firms_per_s"] = round(n / r["wall_s"])
    print(f"  {n} {kind} → parquet: {r}", flush=True)
    src.unlink()
    if not keep_output:
        for f in tmp.glob(f"s{n}-{kind}-out*.parquet"):
            f.unlink()
    return r


def bench_scaling(tmp: Path, sizes: list[int], million: bool = False) -> dict:
    out = {f"{n}_{kind}_to_parquet": _to_parquet(tmp, n, kind) for n in sizes for kind in ("csv", "xlsx", "parquet")}
    if million:
        out.update({f"1000000_{kind}_to_parquet": _to_parquet(tmp, 1_000_000, kind, keep_output=False)
                    for kind in ("parquet", "csv")})
    return out


def bench_outputs(tmp: Path, n: int) -> dict:
    src = write_input(tmp / f"o{n}.csv", n)
    out = {}
    for suffix in ("csv", "xlsx"):
        r = run_cli(str(src), "-o", str(tmp / f"o{n}-out.{suffix}"), "--as-of", "2026-11-27")
        r["firms_per_s"] = round(n / r["wall_s"])
        r["size_mb"] = round((tmp / f"o{n}-out.{suffix}").stat().st_size / 1048576)
        out[f"{n}_csv_to_{suffix}"] = r
        print(f"  {n} csv → {suffix}: {r}", flush=True)
    return out


def bench_excel(tmp: Path, n: int) -> dict:
    import openpyxl

    src = write_input(tmp / f"e{n}.csv", n)
    book_path = tmp / f"e{n}.xlsx"
    r = run_cli(str(src), "-o", str(book_path), "--as-of", "2026-11-27")
    started = time.perf_counter()
    book = openpyxl.load_workbook(book_path, read_only=True)
    counts = {ws.title: sum(1 for _ in ws.iter_rows(values_only=True)) - 1 for ws in book.worksheets}
    names = {row[1] for row in book["企业汇总"].iter_rows(min_row=2, values_only=True)}
    book.close()
    r["openpyxl_read_s"] = round(time.perf_counter() - started, 1)
    r["sheets"] = counts
    r["every_firm_in_summary"] = len(names) == n
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice:
        started = time.perf_counter()
        conv = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/lo-profile", "--convert-to",
                               "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(tmp / "lo"), str(book_path)],
                              capture_output=True, text=True, timeout=3600)
        converted = tmp / "lo" / f"e{n}.csv"
        r["libreoffice_s"] = round(time.perf_counter() - started, 1)
        if conv.returncode == 0 and converted.exists():
            with open(converted, encoding="utf-8") as f:
                rows = list(csv.reader(f))
            r["libreoffice_summary_rows"] = len(rows) - 1
            r["libreoffice_every_firm"] = len({row[1] for row in rows[1:]}) == n
        else:
            r["libreoffice_error"] = (conv.stderr or conv.stdout)[-500:]
    else:
        r["libreoffice"] = "not installed"
    return r


def bench_dask(tmp: Path, n: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = write_input(tmp / f"d{n}", n, parts=8)
    local = run_cli(str(src), "-o", str(tmp / "d-local.parquet"), "--as-of", "2026-11-27")
    dask = run_cli(str(src), "--engine", "dask", "--workers", "2", "-o", str(tmp / "d-dask"), "--as-of", "2026-11-27")
    same = True
    for table, path in (("企业汇总", "d-local.parquet"), ("政策明细", "d-local_政策明细.parquet")):
        parts = sorted((tmp / "d-dask" / table).glob("part-*.parquet"))
        same &= pa.concat_tables([pq.read_table(p) for p in parts]).equals(pq.read_table(tmp / path))
    local["firms_per_s"] = round(n / local["wall_s"])
    dask["firms_per_s"] = round(n / dask["wall_s"])
    return {"local": local, "dask": dask, "identical_content": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (1k/10k, no 1M, 5k for the others)")
    parser.add_argument("--only", nargs="*", default=None, help="any of: workers scaling dask excel outputs million (in this order)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the generated files in this directory")
    args = parser.parse_args()
    chosen = args.only or ["workers", "scaling", "dask", "excel", "outputs", "million"]
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="batch-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict = {"python": sys.version.split()[0], "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    quick = args.quick
    runs = {
        "workers": lambda: bench_workers(tmp, 2_000 if quick else 10_000),
        "scaling": lambda: bench_scaling(tmp, [1_000, 10_000] if quick else [1_000, 10_000, 100_000]),
        "million": lambda: bench_scaling(tmp, [], million=True),
        "outputs": lambda: bench_outputs(tmp, 5_000 if quick else 100_000),
        "excel": lambda: bench_excel(tmp, 2_000 if quick else 25_000),
        "dask": lambda: bench_dask(tmp, 2_000 if quick else 20_000),
    }
    try:
        for name in chosen:
            if name == "million" and quick:
                continue
            results[name] = runs[name]()
            print(f"{name}:", json.dumps(results[name], ensure_ascii=False), flush=True)
            if args.json:  # partial results survive an interrupted run
                args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        results["load_avg_at_end"] = os.getloadavg()
        if args.json:
            args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"targets: {TARGETS}")


if __name__ == "__main__":
    main()
