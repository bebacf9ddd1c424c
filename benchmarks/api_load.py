"""Load benchmark of the HTTP API (`policy-match serve`), sized for 2 cores.

    python benchmarks/api_load.py [--workers 1 2] [--clients 4] [--requests 2000] [--json OUT.json]

For each worker count: starts `policy-match serve --port P --workers N` on 127.0.0.1 as a
subprocess, waits for /healthz, warms up, then runs a bounded load loop — ``--clients``
concurrent httpx clients sending ``--requests`` POST /v1/match requests in all, each with a
different firm (the evaluation profiles with their numbers jittered, seeded) and no ``top``, so
every answer is the full contract JSON (about 200 KB). Reports requests/s, p50/p95/p99 latency
(client side, request sent to body read) and errors (transport failures, non-200 answers,
answers that are not the contract's JSON), the server's CPU time per request (with psutil) and
the machine's load average. The client runs on the same machine and shares its cores with the
server. Target: p95 < 50 ms at the reported throughput, zero errors.

Nothing here asserts; timings belong in benchmarks, not in unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from firms import jittered_firms  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
AS_OF = "2026-12-01"


def varied_profiles(n: int, seed: int = 12) -> list[dict]:
    """``n`` firms: the evaluation and held-out profiles, numbers jittered so no two are alike."""
    return list(jittered_firms(n, seed))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    exe = shutil.which("policy-match")
    cmd = [exe] if exe else [sys.executable, "-m", "policy_match"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"server with {workers} worker(s) did not start")
        time.sleep(0.1)
    return proc, base, time.perf_counter() - t


def is_contract_json(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("as_of") == AS_OF and isinstance(doc.get("results"), list)


async def load(base: str, bodies: list[bytes], clients: int) -> dict:
    """``clients`` concurrent clients take the next request body until all are sent."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    pending = iter(bodies)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for body in pending:
                t = time.perf_counter()
                try:
                    r = await http.post("/v1/match", params={"as_of": AS_OF}, content=body,
                                        headers={"content-type": "application/json"})
                    content = r.content
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
                elif not is_contract_json(content):
                    errors["bad JSON"] = errors.get("bad JSON", 0) + 1

    t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {
        "requests": len(bodies),
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(bodies) / wall, 1),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by the server and its worker processes (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run(workers: int, clients: int, requests: int) -> dict:
    profiles = varied_profiles(requests + 100)
    bodies = [json.dumps(p, ensure_ascii=False).encode("utf-8") for p in profiles]
    proc, base, startup = start_server(workers)
    try:
        asyncio.run(load(base, bodies[:100], clients))  # warm-up: every worker's caches and jieba
        cpu_before, load_before = server_cpu_s(proc.pid), os.getloadavg()[0]
        result = asyncio.run(load(base, bodies[100:], clients))
        cpu_after, load_after = server_cpu_s(proc.pid), os.getloadavg()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Server CPU per request does not depend on what else the machine is doing; latency does.
    cpu_ms = None if cpu_before is None else round((cpu_after - cpu_before) * 1000 / len(bodies[100:]), 2)
    return {"workers": workers, "clients": clients, "startup_s": round(startup, 2), **result,
            "server_cpu_ms_per_request": cpu_ms, "load_average": [round(load_before, 2), round(load_after, 2)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [run(w, args.clients, args.requests) for w in args.workers]
    print(f"POST /v1/match, full contract JSON, {args.clients} concurrent clients, {args.requests} requests each run")
    print(f"{'workers':>7} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'server CPU ms/req':>17} {'load avg':>11}  target p95 < {TARGET_P95_MS:g} ms, 0 errors")
    for r in rows:
        ok = "ok" if r["p95_ms"] < TARGET_P95_MS and r["errors"] == 0 else "MISSED"
        cpu = "—" if r["server_cpu_ms_per_request"] is None else r["server_cpu_ms_per_request"]
        loads = "–".join(f"{x:g}" for x in r["load_average"])
        print(f"{r['workers']:>7} {r['requests_per_s']:>8} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} "
              f"{r['errors']:>6} {cpu:>17} {loads:>11}  {ok}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
