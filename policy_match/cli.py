"""Command line: a thin layer over the library (``policy-match --help``).

Every failure the user can cause ends with a one-line message naming the field or file
and a non-zero exit — never a Python traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import cli_zh
from .io import MAX_PROFILE_BYTES, STATUS_ZH, InputError, profile_from_json, read_profile_file
from .knowledge import POLICY_DIR, load_directory
from .matcher import default_matcher, parse_as_of
from .profile import ProfileError
from .tables import clip
from .wording import amount_range, by_fit, deadline_warnings, deciding_facts, money_lines, validity_line

app = cli_zh.ChineseTyper(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="中山惠企政策匹配：哪些政策适合这家企业、为什么、大约多少钱、下一步做什么。",
)


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"错误：{message}", err=True)
    raise typer.Exit(code)


def _console() -> Console:
    """Tables at the terminal's width (``COLUMNS`` when set; 160 columns into a file)."""
    return cli_zh.console(soft_wrap=False)


AsOf = Annotated[str | None, typer.Option("--as-of", metavar="日期", help="判断有效性的基准日 YYYY-MM-DD（默认今天）")]
IncludeExpired = Annotated[bool, typer.Option("--include-expired", help="保留已过期/未生效的政策并标注")]
Top = Annotated[int | None, typer.Option("--top", min=1, metavar="K", help="只输出前 K 条政策")]
Format = Annotated[OutputFormat, typer.Option("--format", help="输出格式：json（契约的 JSON）或 table（表格）")]


@app.command()
def match(
    profile: Annotated[str, typer.Argument(metavar="画像文件", help="企业画像 JSON 文件（- 表示从标准输入读取）")],
    as_of: AsOf = None,
    include_expired: IncludeExpired = False,
    top: Top = None,
    format: Format = OutputFormat.json,
) -> None:
    """匹配一家企业的画像，输出推荐政策（最合适的在前）。"""
    try:
        if profile == "-":
            stdin = getattr(sys.stdin, "buffer", sys.stdin)
            data = profile_from_json(stdin.read(MAX_PROFILE_BYTES + 1), "标准输入")
        else:
            data = read_profile_file(profile)
        day = _as_of_day(as_of)
        result = default_matcher().match(data, as_of=day, include_expired=include_expired, top=top)
    except ProfileError as exc:
        _fail("企业画像字段有误：" + "；".join(p.line() for p in exc.problems))
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    out = result.to_dict()
    for w in result.warnings:
        typer.echo(f"提示：{w}", err=True)
    if format is OutputFormat.json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    _print_table(out)


def _print_table(out: dict) -> None:
    """The advice as a firm reads it: the summary and the money, deadlines close by, the
    recommended policies with their conditions, then one line each for the rest."""
    console = _console()
    summary = out["summary"]
    console.print(f"[bold]政策匹配结果（基准日 {out['as_of']}）[/bold]")
    console.print(escape(summary["text"]))
    for line in money_lines(summary):
        console.print("  " + escape(line))
    for warning in deadline_warnings(out["results"]):
        console.print(f"  [bold red]临近截止[/bold red] {escape(warning)}")
    groups = by_fit(out["results"])
    if groups["recommended"]:
        table = Table(title="推荐申报", show_lines=True)
        # Chinese text has no spaces to wrap at: fold long reasons over lines instead of cutting them
        for col, kw in [("#", {"justify": "right"}), ("政策与事项", {"ratio": 3, "overflow": "fold"}),
                        ("结论", {"overflow": "fold"}), ("有效期", {"ratio": 2, "overflow": "fold"}),
                        ("金额（万元）", {"justify": "right", "overflow": "fold"}),
                        ("依据与下一步", {"ratio": 4, "overflow": "fold"})]:
            table.add_column(col, **kw)
        for n, pol in enumerate(groups["recommended"], 1):
            items = [it for it in pol["items"] if it["fit"] == "recommended"]
            best = items[0]
            # marks glued to their text: rich wraps at spaces, and a long Chinese reason after a
            # space would leave the mark alone on its line
            reasons = [f"{VERDICT_MARK[c['verdict']]}{c['reason']}" for c in best["conditions"]][:4]
            if len(best["conditions"]) > 4:
                reasons.append(f"…另有 {len(best['conditions']) - 4} 项条件（见 JSON 输出）")
            stated = "\n".join(reasons)  # a hint that only repeats an open condition's check is left out
            reasons += [f"→{h}" for h in best["near_misses"][:2] if h.split("：", 1)[-1] not in stated]
            titles = "\n".join(f"·{it['title']}" for it in items[:4])
            table.add_row(str(n), escape(f"{pol.get('short_title') or pol['title']}\n{titles}"),
                          STATUS_ZH[pol["status"]], escape(validity_line(best)),  # the listed item's own
                          escape(amount_range(pol["amount_wan"], unit="")), escape("\n".join(reasons)))
        console.print(table)
    if out["one_check_away"]:
        console.print("只差人工核实：")
        _print_bullets(console, [f"{c['title']}：{'；'.join(c['checks'][:2])}" for c in out["one_check_away"][:5]])
    if out["near_misses"]:
        console.print("差一点就能享受：")
        _print_bullets(console, [nm["summary"] for nm in out["near_misses"][:5]])
    if groups["general"]:
        console.print("普遍适用的服务：" + escape("、".join(p.get("short_title") or p["title"] for p in groups["general"])))
    if groups["other"]:
        console.print(f"其他可了解的政策（{len(groups['other'])} 项，暂不能直接申报：各项写明需核实的事项或原因）：")
        _print_bullets(console, [(pol.get("short_title") or pol["title"])
                                 + (f"：{'；'.join(facts)}" if (facts := deciding_facts(pol, limit=2)) else "")
                                 for pol in groups["other"][:8]])
        if len(groups["other"]) > 8:
            console.print(f"  另有 {len(groups['other']) - 8} 项（见 JSON 输出）")
    if groups["ruled_out"]:
        console.print(f"暂不符合：{len(groups['ruled_out'])} 项（JSON 输出中有逐条原因）")


def _as_of_day(as_of: str | None) -> date:
    """The --as-of option as a date, or a message naming the option (not the Python name)."""
    try:
        return parse_as_of(as_of)
    except ValueError:
        raise InputError(f"--as-of “{clip(str(as_of))}”：日期应为 YYYY-MM-DD（如 2026-12-01）") from None


VERDICT_MARK = {"met": "✔", "unmet": "✘", "unknown": "?"}
# characters of a date, an amount or a Latin word: a line is not broken between two of them
_UNBROKEN = "0123456789.-%/:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NO_LINE_START = "，。；：、）」』”’！？》"  # closing marks stay with the text before them


def _print_bullets(console: Console, lines: list[str]) -> None:
    """A bulleted list whose long lines wrap under their own text (a hanging indent). Wrapped
    here by display width, character by character: rich wraps at spaces, which Chinese text has
    few of, so a line would break early at the one space it has."""
    width = max(10, console.width - 4)
    for line in lines:
        rows, row = [], ""
        for ch in line:
            if cell_len(row + ch) > width:
                # a date, number or Latin word is not cut ("2026-03" / "-17"): its start moves on;
                # a closing mark ("，", "）") takes the character before it along to the next line
                run = len(row) - len(row.rstrip(_UNBROKEN)) if ch in _UNBROKEN else 0
                if ch in _NO_LINE_START:  # with any closing marks already at the row's end ("）；")
                    run = len(row) - len(row.rstrip(_NO_LINE_START)) + 1
                if 0 < run < len(row) and run <= 16:
                    rows.append(row[:-run])
                    row = row[-run:]
                else:
                    rows.append(row)
                    row = ""
            if ch == " " and not row:
                continue  # no line starts with the space it broke at
            row += ch
        rows.append(row)
        for k, part in enumerate(rows):
            console.print(Text(("  • " if k == 0 else "    ") + part), no_wrap=True, overflow="ignore", crop=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(metavar="关键词", help="关键词，如 “数字化车间 贴息”")],
    top: Annotated[int, typer.Option("--top", min=1, metavar="K", help="返回前 K 个支持事项")] = 10,
    format: Format = OutputFormat.table,
) -> None:
    """在政策库中按关键词检索支持事项（最相关的在前）。"""
    if not query.strip():
        _fail("关键词为空")
    matcher = default_matcher()
    hits = matcher.index_.search(query[:20_000], k=top)
    by_id = {it.item_id: (p, it) for p, it in matcher.pairs_}
    rows = [{"item_id": i, "score": round(s, 4), "policy_id": by_id[i][0].policy_id, "policy_title": by_id[i][0].title,
             "title": by_id[i][1].title, "amount": by_id[i][1].amount.text} for i, s in hits]
    if format is OutputFormat.json:
        typer.echo(json.dumps({"query": query, "results": rows}, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("没有找到相关的支持事项。")
        return
    table = Table(title=f"检索：{query}")
    for col in ("#", "支持事项", "所属政策", "金额", "相关度"):
        table.add_column(col)
    for n, r in enumerate(rows, 1):
        table.add_row(str(n), r["title"], r["policy_title"], r["amount"], f"{r['score']:.3f}")
    _console().print(table)


class Engine(StrEnum):
    local = "local"
    dask = "dask"


@app.command()
def batch(
    infile: Annotated[Path, typer.Argument(metavar="名单文件", help="企业名单：.csv（UTF-8 / UTF-8-BOM / GBK / Big5）、.xlsx 或 .parquet；"
                                                "--engine dask 时也可为分区文件的目录")],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="结果文件", help="结果：.xlsx 工作簿、.csv 或 .parquet（按扩展名）；"
                                                                "--engine dask 时为输出目录")],
    as_of: AsOf = None,
    include_expired: IncludeExpired = False,
    workers: Annotated[int | None, typer.Option("--workers", min=1, metavar="N", help="并行进程数（默认为 CPU 核数，最多 4）")] = None,
    engine: Annotated[Engine, typer.Option("--engine", help="local（本机，默认）或 dask（dask.distributed 集群）")] = Engine.local,
    scheduler: Annotated[str | None, typer.Option("--scheduler", metavar="地址", help="Dask 调度器地址，如 tcp://10.0.0.5:8786"
                                                                      "（不填则在本机启动 LocalCluster）")] = None,
) -> None:
    """批量匹配：每行一家企业，输出“企业汇总”“政策明细”“校验失败”（.xlsx 另有“说明”）。边读边写，内存不随企业数增长。"""
    from .outputs import check_output_path, open_output
    from .tables import open_table, os_error_text

    try:
        day = _as_of_day(as_of)
        if engine is Engine.dask:
            check_output_path(output, directory=True, inputs=[infile])
        else:
            if scheduler:
                raise InputError("--scheduler 只用于 --engine dask")
            check_output_path(output, inputs=[infile])
            if not infile.exists():
                raise InputError(f"无法读取 {infile}：文件不存在")
            reader = open_table(infile, infile.name if infile.is_file() else str(infile))
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    if engine is Engine.dask:
        _dask_batch(infile, output, day, include_expired, scheduler, workers)
        return
    for note in reader.notes:
        typer.echo(f"提示：{note}", err=True)
    if reader.ignored_columns:
        typer.echo(f"提示：无法识别的列 {_preview(reader.ignored_columns)} 不参与匹配，内容原样写入企业汇总的“原表其他列”",
                   err=True)
    from tqdm import tqdm

    from .batch import stream_batch

    tqdm.monitor_interval = 0  # no monitor thread: the workers are forked from this process
    bar = tqdm(desc="匹配中", unit="行", file=sys.stderr, mininterval=0.5, disable=None)

    def progress(done: int) -> None:
        bar.update(done - bar.n)

    matcher = default_matcher()
    try:
        writer = open_output(output)
    except OSError as exc:
        _fail(f"无法写入 {output}：{os_error_text(exc)}")
    try:
        stats = stream_batch(reader, writer, as_of=day, include_expired=include_expired, matcher=matcher,
                             workers=workers, progress=progress)
    except InputError as exc:
        bar.close()
        _fail(f"{exc}（未生成结果文件）")
    except OSError as exc:
        bar.close()
        _fail(f"写入 {output} 失败：{os_error_text(exc)}（未生成结果文件）")
    bar.close()
    report = stats.report
    for line in report.split_lines():
        typer.echo(f"提示：{line}", err=True)
    if report.truncated_cells:
        typer.echo(f"提示：{report.truncated_cells} 个单元格超过 Excel 上限 32,767 字，已截断并注明", err=True)
    files = "、".join(str(p) for p in report.files)
    rate = stats.rows_in / stats.seconds if stats.seconds else 0
    typer.echo(f"完成：{stats.matched} 家企业已匹配，{stats.failed_rows} 行校验失败（见“校验失败”）→ {files}"
               f"（用时 {stats.seconds:.1f} 秒，{rate:,.0f} 行/秒）")


def _preview(names: list[str]) -> str:
    from .tables import preview_columns

    return preview_columns(names, shown=10)


def _dask_batch(infile: Path, output: Path, day, include_expired: bool, scheduler: str | None,
                workers: int | None) -> None:
    from .tables import os_error_text

    try:
        from .dask_batch import run_dask
    except ImportError:
        _fail("--engine dask 需要安装 dask[distributed] 与 pyarrow：pip install 'policy-match[dask]'")
    try:
        summary = run_dask(infile, output, as_of=day, include_expired=include_expired, scheduler=scheduler,
                           workers=workers, log=lambda m: typer.echo(f"提示：{m}", err=True))
    except InputError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"写入 {output} 失败：{os_error_text(exc)}")
    typer.echo(f"完成：{summary['matched']} 家企业已匹配，{summary['failed_rows']} 行校验失败，"
               f"{summary['partitions']} 个分区 → {output}（用时 {summary['seconds']:.1f} 秒）")


@app.command()
def validate(
    directory: Annotated[Path | None, typer.Argument(metavar="政策目录", help="政策目录（默认内置 data/policies/）")] = None,
) -> None:
    """校验政策数据文件：全部有效时退出码 0，否则逐行列出问题（文件与字段）。"""
    kb = load_directory(directory if directory is not None else POLICY_DIR)
    if kb.problems:
        for p in kb.problems:
            typer.echo(p.line())
        typer.echo(f"{len(kb.problems)} 个问题；{len(kb.policies)} 个文件有效", err=True)
        raise typer.Exit(1)
    items = sum(len(p.items) for p in kb.policies)
    typer.echo(f"OK：{len(kb.policies)} 个政策文件、{items} 个支持事项全部有效")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", metavar="地址", help="监听地址（默认只监听本机；对外请放在平台网关之后）")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, metavar="端口", help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, metavar="N", help="工作进程数（建议每个 CPU 核一个）")] = 1,
) -> None:
    """启动 HTTP 接口（FastAPI + uvicorn），供政务服务平台调用；接口说明见 /openapi.json。"""
    import errno
    import socket

    import uvicorn

    # Checked here so that a busy port gets one Chinese line instead of uvicorn's log.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        _fail(f"无法监听 {host}:{port}：{'端口已被占用' if exc.errno == errno.EADDRINUSE else '地址无效或无权监听'}")
    uvicorn.run("policy_match.api:create_app", factory=True, host=host, port=port, workers=workers)


# -- alerts: follow-ups due and what changed for visited firms (issue 13) ----------------------------


@app.command()
def alerts(
    as_of: Annotated[str | None, typer.Option("--as-of", help="提醒基准日 YYYY-MM-DD（默认今天）：按这一天判断跟进是否到期、"
                                                              "重新匹配政策")] = None,
    advisor: Annotated[str | None, typer.Option("--advisor", help="只看这位走访人的企业和跟进事项（与走访记录中的姓名一致）")] = None,
    town: Annotated[str | None, typer.Option("--town", help="只看这个镇街的企业，如 古镇镇（可写 古镇）")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="另存回访名单为 .xlsx 工作簿（回访名单、变化明细、说明）")] = None,
    days: Annotated[int, typer.Option("--days", min=0, max=365, help="跟进期限在几天内的也列为“即将到期”")] = 7,
    db: Annotated[str | None, typer.Option("--db", help="走访记录库的地址（默认取环境变量 POLICY_MATCH_DB_URL，"
                                                        "否则为 var/visits.db）")] = None,
    format: Format = OutputFormat.table,
) -> None:
    """回访提醒：到期或逾期的跟进事项，以及走访过的企业自走访以来政策建议的变化（新增推荐、不再可申请、金额变化、临近截止）。"""
    from . import alerts as al
    from . import visits as vs

    try:
        day = _as_of_day(as_of)
        town_name = al.normalise_town(town)
        if output is not None:
            if output.suffix.lower() != ".xlsx":
                raise InputError(f"回访名单应保存为 .xlsx 工作簿：{output}")
            from .outputs import check_output_path

            check_output_path(output)
        url = vs.database_url(db)
        path = vs.sqlite_path(url)
        if path is not None and not path.exists():  # reading must not leave an empty database behind
            raise InputError(f"走访记录库不存在：{path}（请先在“走访助手”中保存走访记录，或用 --db 指定）")
        engine = vs.get_engine(url)
        vs.init_db(engine)
        visits = vs.list_visits(engine)
        known = sorted({v["advisor"] for v in visits if v["advisor"]})
        if advisor and advisor.strip() and advisor.strip() not in known:
            raise InputError(f"没有走访人为“{advisor.strip()}”的走访记录（已有走访人：{'、'.join(known) or '无'}）")
        found = al.call_backs(visits, default_matcher(), day, advisor=advisor, town=town_name, upcoming_days=days)
    except (InputError, ValueError, vs.StoreError, vs.VisitError) as exc:
        _fail(str(exc))
    if output is not None:
        try:
            al.write_call_backs_xlsx(found, output)
        except OSError as exc:
            from .tables import os_error_text

            _fail(f"写入 {output} 失败：{os_error_text(exc)}")
    if format is OutputFormat.json:
        typer.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_call_backs(found)
    if output is not None:
        typer.echo(f"已保存回访名单：{output}（{len(found.firms)} 家企业）", err=format is OutputFormat.json)


def _print_call_backs(found) -> None:
    console = _console()
    scope = "、".join(x for x in (found.town, f"走访人 {found.advisor}" if found.advisor else None) if x)
    console.print(f"[bold]回访名单（基准日 {found.as_of.isoformat()}{'，' + escape(scope) if scope else ''}）[/bold]")
    console.print(escape(found.summary_line()))
    if not found.firms:
        return
    table = Table(show_lines=True)
    # a firm's name is what an advisor looks for: kept on one line (up to 40 columns) at any width
    name_width = min(40, max(cell_len(c.firm_name) for c in found.firms))
    for col, kw in [("#", {"justify": "right"}), ("镇街", {}), ("企业", {"ratio": 2, "min_width": name_width}),
                    ("走访人", {}), ("上次走访", {}), ("回访原因", {"ratio": 5})]:
        table.add_column(col, **kw)
    for n, c in enumerate(found.firms, 1):
        table.add_row(str(n), escape(c.town or "未填写"), escape(c.firm_name), escape(c.advisor or "未填写"),
                      c.last_visit.isoformat(), escape("\n".join(c.reasons)))
    console.print(table)


def main() -> None:
    try:
        code = cli_zh.run(app)
    except KeyboardInterrupt:
        typer.echo("已中断", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: one line, never a traceback
        typer.echo(f"内部错误：{type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    main()
