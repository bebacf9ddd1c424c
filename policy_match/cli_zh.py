"""The command line in Chinese: help pages and the messages of usage errors.

Typer renders help and errors through its copy of click, in English ("Usage:", "Options",
"Show this message and exit.", "Missing argument", "No such option" …). This module replaces
them through the hooks click and typer offer, without touching their internals:

- :class:`ChineseCommand` / :class:`ChineseGroup` (typer's ``cls=``) write the whole help page
  (``format_help``) and the usage line (``format_usage``), and give the help option its
  Chinese text (``get_help_option``); :class:`ChineseTyper` makes every ``@app.command()``
  use them, so a command added later is Chinese too;
- ``context_settings`` adds ``-h`` beside ``--help``;
- :func:`run` calls the app with ``standalone_mode=False``, so the usage errors click raises
  reach us as exceptions, and prints them with :func:`usage_error_message` — a Chinese message
  built from the exception's kind and its parameter, never from click's English text.

Help is laid out with rich (which measures Chinese characters as two columns) at the
terminal's width, or :data:`DEFAULT_WIDTH` when the output is not a terminal.
"""

from __future__ import annotations

import difflib
import enum
import io
import os
import re
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer._click import exceptions as click_errors  # typer ≥ 0.29 carries its own click
from typer.core import TyperCommand, TyperGroup

# Output to a file or a pipe with no terminal to measure: wide enough that a table row's text stays
# on one line (and the width the CLI always used there, so scripts reading it keep their layout).
DEFAULT_WIDTH = 160
MIN_WIDTH = 40
HELP_OPTION_TEXT = "显示本帮助并退出"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
METAVARS: dict[type, str] = {str: "文本", int: "整数", float: "数值", Path: "路径", date: "日期", bool: "是否"}
_CJK = re.compile(r"[\u3400-\u9fff]")


def output_width(stream: Any = None) -> int:
    """Columns to lay text out in: ``COLUMNS`` when set; else the width of the terminal that
    ``stream`` (default stdout) is, or — piped into ``less`` — the terminal stderr still is;
    else :data:`DEFAULT_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    for candidate in (sys.stdout if stream is None else stream, sys.stderr):
        try:
            if candidate.isatty():
                return max(MIN_WIDTH, os.get_terminal_size(candidate.fileno()).columns)
        except (AttributeError, OSError, ValueError):
            continue
    return DEFAULT_WIDTH


def console(stream: Any = None, **kwargs: Any) -> Console:
    """A rich console at :func:`output_width` (``stream`` default stdout)."""
    return Console(file=stream, width=output_width(stream), **kwargs)


# --------------------------------------------------------------------------------------
# Describing a parameter
# --------------------------------------------------------------------------------------


def _annotation(param: Any) -> Any:
    return getattr(getattr(param, "type_descriptor", None), "annotation", None)


def _choices(param: Any) -> list[str]:
    kind = _annotation(param)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(m.value) for m in kind]
    return []


def is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def metavar(param: Any) -> str:
    """What stands for the value in the usage line and the help: the declared metavar, the
    choices (json|table), or the kind of value in Chinese (整数, 路径 …)."""
    if param.metavar:
        return param.metavar
    choices = _choices(param)
    if choices:
        return "|".join(choices)
    if is_argument(param):
        return str(param.name).upper()
    kind = _annotation(param)
    return METAVARS.get(kind, "值") if isinstance(kind, type) else "值"


def param_name(param: Any) -> str:
    """How a message names a parameter: its metavar for an argument, its flags for an option."""
    if is_argument(param):
        return metavar(param)
    return "/".join([*param.opts, *getattr(param, "secondary_opts", [])])


def _range(param: Any) -> str:
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        return f"{low}–{high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def expected(param: Any) -> str:
    """What a valid value is, in Chinese ("不小于 1 的整数", "json、table 之一")."""
    choices = _choices(param)
    if choices:
        return "、".join(choices) + " 之一"
    kind = _annotation(param)
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    noun = {int: "整数", float: "数字", bool: "true 或 false", Path: "文件或目录的路径", date: "YYYY-MM-DD 格式的日期"}.get(
        kind if isinstance(kind, type) else None, "")
    if noun in {"整数", "数字"}:
        if low is not None and high is not None:
            return f"{low}–{high} 之间的{noun}"
        if low is not None:
            return f"不小于 {low} 的{noun}"
        if high is not None:
            return f"不大于 {high} 的{noun}"
    return noun


def _default_text(param: Any) -> str:
    if getattr(param, "is_flag", False) or not getattr(param, "show_default", True):
        return ""
    value = param.default
    if value is None or callable(value) or value == ():
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    return f"默认：{value}"


def _takes_value(param: Any) -> bool:
    return not getattr(param, "is_flag", False) and not getattr(param, "count", False)


# --------------------------------------------------------------------------------------
# Help pages
# --------------------------------------------------------------------------------------


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    for mark in ("。", "；", ". "):
        if mark in text:
            return text.split(mark, 1)[0] + ("。" if mark != ". " else ".")
    return text


def _panel(title: str, rows: list[tuple[str, Text]]) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for name, help_text in rows:
        grid.add_row(name, help_text)
    return Panel(grid, title=title, title_align="left", border_style="dim", expand=True)


def _param_rows(ctx: Any, params: list[Any]) -> list[tuple[str, Text]]:
    rows = []
    for p in params:
        if getattr(p, "hidden", False):
            continue
        if is_argument(p):
            name = metavar(p)
        else:
            flags = sorted([*p.opts, *getattr(p, "secondary_opts", [])], key=lambda f: (f.startswith("--"), f))
            name = ", ".join(flags)
            if _takes_value(p):
                name += f" {metavar(p)}"
        extras = [e for e in (("必填" if p.required else ""), _range(p), _default_text(p)) if e]
        line = Text(p.help or "")
        if extras:
            line.append("〔" + "；".join(extras) + "〕", style="dim")
        rows.append((name, line))
    return rows


def render_help(command: Any, ctx: Any) -> str:
    """The whole help page of ``command`` as text."""
    buffer = io.StringIO()
    out = Console(file=buffer, width=output_width(), color_system=None, highlight=False, emoji=False,
                  soft_wrap=False, legacy_windows=False)
    parts: list[Any] = [Text(command.get_usage(ctx)), Text("")]
    if command.help:
        parts += [Text(" " + " ".join(command.help.split("\f")[0].split())), Text("")]
    params = command.get_params(ctx)
    arguments = [p for p in params if is_argument(p)]
    options = [p for p in params if not is_argument(p)]
    if arguments:
        parts.append(_panel("参数", _param_rows(ctx, arguments)))
    if options:
        parts.append(_panel("选项", _param_rows(ctx, options)))
    if isinstance(command, TyperGroup):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, Text(_first_sentence(sub.short_help or sub.help or ""))))
        if rows:
            parts.append(_panel("命令", rows))
            parts.append(Text(f" 运行 {ctx.command_path} 命令 -h 查看该命令的用法。"))
    if command.epilog:
        parts.append(Text(command.epilog))
    out.print(Group(*parts))
    return buffer.getvalue().rstrip("\n")


def usage_line(command: Any, ctx: Any) -> str:
    pieces = ["[选项]"] if any(not is_argument(p) for p in command.get_params(ctx)) else []
    for p in command.params:
        if not is_argument(p) or getattr(p, "hidden", False):
            continue
        shown = metavar(p) + ("…" if p.nargs == -1 else "")
        pieces.append(shown if p.required else f"[{shown}]")
    if isinstance(command, TyperGroup):
        pieces.append("命令 [参数]…")
    return f"用法：{ctx.command_path} {' '.join(pieces)}".rstrip()


class _Chinese:
    """What ChineseCommand and ChineseGroup share (a mixin before typer's classes)."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write(usage_line(self, ctx) + "\n")

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render_help(self, ctx) + "\n")

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION_TEXT
        return option


class ChineseCommand(_Chinese, TyperCommand):
    """A typer command whose help and usage line are Chinese."""


class ChineseGroup(_Chinese, TyperGroup):
    """The top-level group: Chinese help, and a Chinese message for an unknown command."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if (name and not name.startswith("-") and self.get_command(ctx, name) is None
                and not ctx.resilient_parsing):
            commands = list(self.list_commands(ctx))
            close = difflib.get_close_matches(name, commands, n=2)
            hint = f"是否想用 {'、'.join(close)}？" if close else f"可用的命令：{'、'.join(commands)}"
            ctx.fail(f"没有命令“{name}”（{hint}）")
        return super().resolve_command(ctx, args)


class ChineseTyper(typer.Typer):
    """``typer.Typer`` whose commands default to :class:`ChineseCommand`."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("cls", ChineseGroup)
        kwargs.setdefault("context_settings", dict(CONTEXT_SETTINGS))
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type | None = None, **kwargs: Any) -> Callable:
        return super().command(name, cls=cls or ChineseCommand, **kwargs)


# --------------------------------------------------------------------------------------
# Usage errors
# --------------------------------------------------------------------------------------

_CLICK_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^Missing command"), lambda m: "缺少命令"),
    (re.compile(r"^Got unexpected extra argument(?:\(s\)|s)? \((.*)\)$"), lambda m: f"多余的参数：{m.group(1)}"),
    (re.compile(r"^No such command '(.*)'"), lambda m: f"没有命令“{m.group(1)}”"),
]


def _input_value(exc: BaseException) -> Any:
    """The value the user gave, where the exception carries it (typer's pydantic check)."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except (IndexError, TypeError):
            return None
        return first.get("input")
    return None


def _value_reason(exc: Any) -> str:
    """Why a value was refused, in Chinese: from the parameter when it says what it expects,
    else from the kind of check that failed; the English text itself is never shown."""
    if _CJK.search(exc.message or ""):
        return exc.message  # raised with a Chinese message by our own code
    param = exc.param
    wanted = expected(param) if param is not None else ""
    if wanted:
        return f"应为{' ' if wanted[0].isascii() else ''}{wanted}"
    text = (exc.message or "").lower()
    for words, reason in (("integer", "应为整数"), ("number", "应为数字"), ("float", "应为数字"),
                          ("boolean", "应为 true 或 false"), ("does not exist", "文件或目录不存在"),
                          ("is a directory", "是目录，应为文件"), ("is a file", "是文件，应为目录"),
                          ("not readable", "无法读取"), ("not writable", "无法写入")):
        if words in text:
            return reason
    return "取值无效"


def usage_error_message(exc: Any) -> str:
    """One Chinese line for a usage error click or typer raised."""
    if isinstance(exc, click_errors.MissingParameter):
        if exc.param is None:
            return "缺少必填的参数"
        what = "参数" if is_argument(exc.param) else "选项"
        help_text = f"：{exc.param.help}" if exc.param.help else ""
        return f"缺少{what} {param_name(exc.param)}{help_text}"
    if isinstance(exc, click_errors.NoSuchOption):
        options = sorted(exc.possibilities or [])
        hint = f"（是否想用 {'、'.join(options)}？）" if options else ""
        return f"没有选项 {exc.option_name}{hint}"
    if isinstance(exc, click_errors.BadOptionUsage):
        if "does not take a value" in (exc.message or ""):
            return f"选项 {exc.option_name} 不接受取值"
        return f"选项 {exc.option_name} 后面需要一个值"
    if isinstance(exc, click_errors.BadParameter):
        value = _input_value(exc)
        shown = f"“{value}”" if value is not None else ""
        name = param_name(exc.param) if exc.param is not None else "参数"
        return f"{name} 的取值{shown}无效：{_value_reason(exc)}"
    if isinstance(exc, click_errors.BadArgumentUsage):
        return "参数的个数不对"
    message = str(getattr(exc, "message", "") or "")
    if _CJK.search(message):
        return message
    for pattern, build in _CLICK_MESSAGES:
        found = pattern.search(message)
        if found:
            return build(found)
    return "命令行用法有误"


def _usage_hint(ctx: Any) -> list[str]:
    if ctx is None:
        return []
    lines = [ctx.get_usage()]
    if ctx.command.get_help_option(ctx) is not None:
        lines.append(f"运行 {ctx.command_path} -h 查看帮助。")
    return lines


def run(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run ``app`` as the console script does; returns the exit code. Usage errors are printed
    in Chinese on stderr (the message first, then the usage line and where to find help)."""
    try:
        code = app(args=args, prog_name="policy-match", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        return 0
    except click_errors.UsageError as exc:
        typer.echo(f"错误：{usage_error_message(exc)}", err=True)
        for line in _usage_hint(exc.ctx):
            typer.echo(line, err=True)
        return exc.exit_code
    except click_errors.ClickException as exc:  # a FileError and the like
        filename = getattr(exc, "filename", None)
        typer.echo(f"错误：无法打开文件 {filename}" if filename else "错误：命令执行失败", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("已中止", err=True)
        return 1
    if code == 130:  # typer turns Ctrl-C into exit code 130
        typer.echo("已中断", err=True)
    return code if isinstance(code, int) else 0
