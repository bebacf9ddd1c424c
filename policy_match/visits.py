"""The advisor-visit store: who visited which firm, what they were told, what comes next.

One table, ``visits``, through SQLAlchemy 2.0. The database is the URL in the environment
variable ``POLICY_MATCH_DB_URL``, by default the SQLite file ``var/visits.db`` under the
repository root. SQLite runs in WAL mode with a busy timeout, and every write transaction
starts with ``BEGIN IMMEDIATE``, so two app sessions (threads or processes) saving at the
same moment both succeed: the second waits for the first instead of failing.

Strings are stored as given (no HTML escaping here; escaping is the UI's job), except for the
characters XML cannot hold (``policy_match.xml_text``): a vertical tab or form feed pasted from Word
becomes a line break, other control characters and lone surrogates are dropped, so that every
saved visit's brief can be built. Visits saved before that rule still open: the brief cleans its
input too, and text or JSON another tool damaged reads as U+FFFD / not recorded.

>>> engine = get_engine("sqlite://")
>>> init_db(engine)
>>> vid = save_visit(engine, VisitIn(firm_name="示例灯饰有限公司", town="古镇"))
>>> get_visit(engine, vid)["town"]
'古镇镇'
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    String,
    Text,
    and_,
    case,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from .fields import TOWN_ALIASES, TOWNS
from .xml_text import xml_safe, xml_safe_data

ENV_DB_URL = "POLICY_MATCH_DB_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = REPO_ROOT / "var" / "visits.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000

STATUSES = ("open", "done")
VISIT_STATUS_ZH = {"open": "待跟进", "done": "已完成"}

MAX_FIRM_NAME = 200
MAX_ADVISOR = 50
MAX_NOTES = 5000
MAX_FOLLOW_UP = 2000
MAX_BASE_VERSION = 40

# Chinese names of the VisitIn fields, for error messages.
VISIT_FIELD_LABELS = {
    "firm_name": "企业名称", "credit_code": "统一社会信用代码", "town": "所在镇街", "advisor": "走访人",
    "visit_date": "走访日期", "profile": "企业画像", "result_summary": "匹配结果摘要", "notes": "走访记录",
    "follow_up": "跟进事项", "follow_up_due": "跟进期限", "status": "跟进状态", "base_version": "政策库版本",
}


class VisitError(ValueError):
    """Visit input that cannot be saved; the message is one Chinese line naming the field."""


class StoreError(RuntimeError):
    """The database could not be reached or written; the message is for the user, in one line."""


# -- ORM ----------------------------------------------------------------------------------

class Base(DeclarativeBase):
    pass


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    visit_date: Mapped[date] = mapped_column(Date, index=True)
    advisor: Mapped[str | None] = mapped_column(String(MAX_ADVISOR))
    firm_name: Mapped[str] = mapped_column(String(MAX_FIRM_NAME), index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    town: Mapped[str | None] = mapped_column(String(20), index=True)
    profile_json: Mapped[str] = mapped_column(Text, default="{}")
    result_summary_json: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[str] = mapped_column(Text, default="")
    follow_up_due: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The policy base the advice was given from (``alerts.base_version``); NULL on visits saved
    # before it was recorded. Added to existing databases by ``init_db``.
    base_version: Mapped[str | None] = mapped_column(String(MAX_BASE_VERSION))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _utc(self.created_at),
            "updated_at": _utc(self.updated_at),
            "visit_date": self.visit_date,
            "advisor": self.advisor,
            "firm_name": self.firm_name,
            "credit_code": self.credit_code,
            "town": self.town,
            "profile": _loads(self.profile_json) or {},
            "result_summary": _loads(self.result_summary_json),
            "notes": self.notes or "",
            "follow_up": self.follow_up or "",
            "follow_up_due": self.follow_up_due,
            "status": self.status,
            "base_version": self.base_version,
        }


def _loads(text: str | None) -> Any:
    """A stored JSON column; one damaged by hand or by another tool reads as not recorded, so
    the visit still opens (its other fields are intact)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- input validation ---------------------------------------------------------------------

def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _normalise_town(value: str | None) -> str | None:
    if value is None:
        return None
    town = TOWN_ALIASES.get(value, value)
    if town not in TOWNS:
        raise ValueError(f"“{value}”不是中山市的镇街")
    return town


class VisitIn(BaseModel):
    """One visit to save. Strings are stripped; blank optional strings mean not given."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    firm_name: str = Field(min_length=1, max_length=MAX_FIRM_NAME)
    credit_code: str | None = Field(default=None, max_length=18)
    town: str | None = None
    advisor: str | None = Field(default=None, max_length=MAX_ADVISOR)
    visit_date: date = Field(default_factory=date.today)
    profile: dict[str, Any] = Field(default_factory=dict)
    result_summary: dict[str, Any] | None = None
    notes: str = Field(default="", max_length=MAX_NOTES)
    follow_up: str = Field(default="", max_length=MAX_FOLLOW_UP)
    follow_up_due: date | None = None
    status: Literal["open", "done"] = "open"
    base_version: str | None = Field(default=None, max_length=MAX_BASE_VERSION)

    @field_validator("firm_name", "credit_code", "town", "advisor", mode="before")
    @classmethod
    def _one_line_xml_safe(cls, value: Any) -> Any:
        return xml_safe(value, line_break=" ") if isinstance(value, str) else value

    @field_validator("notes", "follow_up", "profile", "result_summary", mode="before")
    @classmethod
    def _xml_safe(cls, value: Any) -> Any:
        return xml_safe_data(value)

    @field_validator("credit_code", "town", "advisor", "follow_up_due", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("notes", "follow_up", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("credit_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("town")
    @classmethod
    def _town(cls, value: str | None) -> str | None:
        return _normalise_town(value)


class VisitUpdate(BaseModel):
    """The parts of a saved visit an advisor may change afterwards."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    advisor: str | None = Field(default=None, max_length=MAX_ADVISOR)
    visit_date: date | None = None
    notes: str | None = Field(default=None, max_length=MAX_NOTES)
    follow_up: str | None = Field(default=None, max_length=MAX_FOLLOW_UP)
    follow_up_due: date | None = None
    status: Literal["open", "done"] | None = None

    @field_validator("advisor", mode="before")
    @classmethod
    def _one_line_xml_safe(cls, value: Any) -> Any:
        return xml_safe(value, line_break=" ") if isinstance(value, str) else value

    @field_validator("notes", "follow_up", mode="before")
    @classmethod
    def _xml_safe(cls, value: Any) -> Any:
        return xml_safe_data(value)


def _error_text(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in {"missing", "string_too_short"}:
        return "不能为空"
    if kind == "string_too_long":
        return f"不能超过 {ctx.get('max_length')} 个字"
    if kind.startswith("date"):
        return "应为日期（YYYY-MM-DD）"
    if kind == "literal_error":
        return "应为 open（待跟进）或 done（已完成）"
    if kind == "extra_forbidden":
        return "不是走访记录的字段"
    if kind in {"string_type", "dict_type"}:
        return "类型不对"
    msg = err.get("msg", "")
    return msg.removeprefix("Value error, ")


def _explain(exc: ValidationError) -> VisitError:
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        label = VISIT_FIELD_LABELS.get(name, name)
        lines.append(f"{label}（{name}）：{_error_text(err)}")
    return VisitError("；".join(lines))


def validate_visit(data: VisitIn | dict[str, Any]) -> VisitIn:
    """A :class:`VisitIn` from a dict; raises :class:`VisitError` with a Chinese message."""
    if isinstance(data, VisitIn):
        return data
    try:
        return VisitIn.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc) from None


# -- result summary -----------------------------------------------------------------------

def _amount_pair(amount: dict[str, Any] | None) -> dict[str, Any] | None:
    if not amount:
        return None
    return {"low": amount.get("low"), "high": amount.get("high")}


def summarize_result(result: dict[str, Any], *, base_version: str | None = None) -> dict[str, Any]:
    """What a visit records of a match: per policy its status, fit, validity, deadline and
    amount, the headline summary (counts and money) and the near misses — enough to see later
    what the firm was told and to compare it with today's advice (``policy_match.alerts``), far
    smaller than the result. ``base_version`` names the policy base the advice came from."""
    policies = [
        {
            "policy_id": r["policy_id"],
            "title": r["title"],
            "short_title": r.get("short_title"),
            "status": r["status"],
            "fit": r.get("fit"),
            "validity": r.get("validity"),
            "deadline": r.get("deadline"),
            "amount_wan": _amount_pair(r.get("amount_wan")),
        }
        for r in result.get("results", [])
    ]
    near = [
        {
            "policy_id": n.get("policy_id"),
            "item_id": n.get("item_id"),
            "title": n.get("title"),
            "potential_high": n.get("potential_high"),
            "summary": n.get("summary"),
        }
        for n in result.get("near_misses", [])
    ]
    counts = {s: sum(p["status"] == s for p in policies) for s in ("eligible", "possible", "ineligible")}
    return {"as_of": result.get("as_of"), "base_version": base_version, "counts": counts, "policies": policies,
            "near_misses": near, "summary": result.get("summary")}


def visit_from_match(profile: dict[str, Any], result: dict[str, Any] | None, *, base_version: str | None = None,
                     **fields: Any) -> VisitIn:
    """A visit for a matched profile: firm name, credit code and town come from the profile
    unless given; ``base_version`` (``alerts.base_version(kb)``) is kept with the advice so that
    later alerts can say whether the policy base changed since. Raises :class:`VisitError`
    (e.g. when the profile has no firm name)."""
    data: dict[str, Any] = {
        "firm_name": profile.get("name") or "",
        "credit_code": profile.get("credit_code"),
        "town": profile.get("town"),
        "profile": profile,
        "result_summary": summarize_result(result, base_version=base_version) if result is not None else None,
        "base_version": base_version,
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    return validate_visit(data)


# -- engine -------------------------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def database_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$POLICY_MATCH_DB_URL``, else ``var/visits.db``."""
    if url:
        return url
    env = os.environ.get(ENV_DB_URL, "").strip()
    if env:
        return env
    return f"sqlite:///{DEFAULT_DB_PATH.as_posix()}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for other databases and in-memory SQLite."""
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported when the engine is made
        return None
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or u.database.startswith("file:"):
        return None
    return Path(u.database)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" listener issue BEGIN (the driver would defer it, which turns
    # two concurrent writers into an immediate "database is locked").
    dbapi_connection.isolation_level = None
    # Text another tool wrote as invalid UTF-8 reads with U+FFFD instead of failing the whole list.
    dbapi_connection.text_factory = _lenient_text
    cur = dbapi_connection.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _set_wal(cur)  # a no-op for in-memory databases
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
    finally:
        cur.close()


def _set_wal(cur) -> None:
    """``PRAGMA journal_mode = WAL``, waiting its turn. Switching the journal mode needs the file
    to itself, and SQLite answers "database is locked" at once (no busy handler) while another
    connection is creating the database or switching it — two app processes starting on a new
    store. WAL is persistent once one connection has set it, so retrying until the busy timeout
    is enough."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.1, delay * 2)


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _sqlite_begin(conn) -> None:
    # Take the write lock at the start: with busy_timeout the second writer waits its turn
    # instead of failing when it upgrades a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    else:  # in-memory: one shared connection, or every session would see its own empty database
        engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (see :func:`database_url`), one per URL per process."""
    resolved = database_url(url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(resolved)
        if engine is None:
            try:
                engine = _ENGINES[resolved] = _make_engine(resolved)
            except (SQLAlchemyError, OSError, ValueError, ImportError) as exc:
                raise StoreError(f"无法打开走访记录库（{_safe_url(resolved)}）：{_reason(exc)}") from exc
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests; before forking)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown as is
        return url


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def _session(engine: Engine, action: str) -> Iterator[Session]:
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except SQLAlchemyError as exc:
        raise StoreError(f"{action}失败：{_reason(exc)}") from exc


def init_db(engine: Engine) -> None:
    """Create the table if it does not exist and add the columns a newer version of the store
    uses to a table made by an older one (safe to call from several processes)."""
    try:
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"初始化走访记录库失败：{_reason(exc)}") from exc


def _add_missing_columns(engine: Engine) -> None:
    """The migration: every column of ``Visit`` missing from the stored table is added, empty.

    Only nullable columns are ever added, so old rows stay valid as they are (their advice
    snapshot lacks the new facts and the comparison says so). Two processes may migrate at
    once: the loser's "duplicate column" is fine when the column is then there."""
    table = Visit.__table__
    have = {c["name"] for c in inspect(engine).get_columns(table.name)}
    for column in table.columns:
        if column.name in have:
            continue
        ddl = f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(engine.dialect)}"
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(ddl)
        except SQLAlchemyError:
            if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                raise


# -- operations ---------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def save_visit(engine: Engine, visit: VisitIn | dict[str, Any]) -> int:
    """Save a visit and return its id. Raises :class:`VisitError` or :class:`StoreError`."""
    v = validate_visit(visit)
    row = Visit(
        created_at=datetime.now(UTC),
        visit_date=v.visit_date,
        advisor=v.advisor,
        firm_name=v.firm_name,
        credit_code=v.credit_code,
        town=v.town,
        profile_json=_dumps(v.profile),
        result_summary_json=_dumps(v.result_summary) if v.result_summary is not None else None,
        notes=v.notes,
        follow_up=v.follow_up,
        follow_up_due=v.follow_up_due,
        status=v.status,
        base_version=v.base_version,
    )
    with _session(engine, "保存走访记录") as session:
        session.add(row)
        session.flush()
        return row.id


def replace_visit(engine: Engine, visit_id: int, visit: VisitIn | dict[str, Any]) -> dict[str, Any] | None:
    """Overwrite a saved visit with new input (the same visit saved again after the profile or
    the notes changed); its id and creation time are kept. ``None`` when it does not exist."""
    v = validate_visit(visit)
    with _session(engine, "更新走访记录") as session:
        row = session.get(Visit, int(visit_id))
        if row is None:
            return None
        row.visit_date, row.advisor, row.firm_name = v.visit_date, v.advisor, v.firm_name
        row.credit_code, row.town = v.credit_code, v.town
        row.profile_json = _dumps(v.profile)
        row.result_summary_json = _dumps(v.result_summary) if v.result_summary is not None else None
        row.notes, row.follow_up, row.follow_up_due = v.notes, v.follow_up, v.follow_up_due
        row.base_version = v.base_version
        if "status" in v.model_fields_set:  # otherwise a visit marked done stays done
            row.status = v.status
        row.updated_at = datetime.now(UTC)
        session.flush()
        return row.to_dict()


def list_visits(engine: Engine, *, firm: str | None = None, town: str | None = None,
                credit_code: str | None = None, status: str | None = None, advisor: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    """Visits, newest first (by visit date, then by when they were saved).

    ``firm`` matches part of the firm name or the credit code; ``town`` accepts the short
    names the form accepts (古镇 = 古镇镇); ``credit_code`` and ``advisor`` are matched exactly."""
    stmt = select(Visit)
    if firm and firm.strip():
        pattern = f"%{_escape_like(firm.strip())}%"
        stmt = stmt.where(or_(Visit.firm_name.like(pattern, escape="\\"),
                              Visit.credit_code.like(pattern.upper(), escape="\\")))
    if town and town.strip():
        stmt = stmt.where(Visit.town == TOWN_ALIASES.get(town.strip(), town.strip()))
    if credit_code and credit_code.strip():
        stmt = stmt.where(Visit.credit_code == credit_code.strip().upper())
    if status:
        stmt = stmt.where(Visit.status == status)
    if advisor and advisor.strip():
        stmt = stmt.where(Visit.advisor == advisor.strip())
    stmt = stmt.order_by(Visit.visit_date.desc(), Visit.created_at.desc(), Visit.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    with _session(engine, "读取走访记录") as session:
        return [v.to_dict() for v in session.scalars(stmt)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_visit(engine: Engine, visit_id: int) -> dict[str, Any] | None:
    """One visit, or ``None`` when there is no visit with that id."""
    with _session(engine, "读取走访记录") as session:
        row = session.get(Visit, int(visit_id))
        return row.to_dict() if row is not None else None


_UNSET: Any = object()


def update_visit(engine: Engine, visit_id: int, *, notes: str | None = None, follow_up: str | None = None,
                 follow_up_due: date | None = _UNSET, status: str | None = None, advisor: str | None = None,
                 visit_date: date | None = None) -> dict[str, Any] | None:
    """Change a visit's notes, follow-up, due date (``None`` clears it), status, advisor or date.
    Arguments left out are kept. Returns the updated visit, ``None`` when it does not exist."""
    given: dict[str, Any] = {"notes": notes, "follow_up": follow_up, "status": status, "advisor": advisor,
                             "visit_date": visit_date}
    if follow_up_due is not _UNSET:
        given["follow_up_due"] = _blank_to_none(follow_up_due)
    try:
        upd = VisitUpdate.model_validate(given)
    except ValidationError as exc:
        raise _explain(exc) from None
    with _session(engine, "更新走访记录") as session:
        row = session.get(Visit, int(visit_id))
        if row is None:
            return None
        if upd.notes is not None:
            row.notes = upd.notes
        if upd.follow_up is not None:
            row.follow_up = upd.follow_up
        if "follow_up_due" in given:
            row.follow_up_due = upd.follow_up_due
        if upd.status is not None:
            row.status = upd.status
        if upd.advisor is not None:
            row.advisor = upd.advisor or None
        if upd.visit_date is not None:
            row.visit_date = upd.visit_date
        row.updated_at = datetime.now(UTC)
        session.flush()
        return row.to_dict()


def _firm_keys(visit: dict[str, Any]) -> set[str]:
    code = visit.get("credit_code")
    return {f"name:{visit.get('firm_name')}"} | ({f"code:{code}"} if code else set())


def group_by_firm(visits: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Visits (newest first, as :func:`list_visits` returns them) grouped by firm, each group
    newest first, the firm with the latest visit first. Two visits are the same firm when they
    share the credit code or the name (a code is often filled in only on a later visit)."""
    groups: list[list[dict[str, Any]]] = []
    group_of: dict[str, int] = {}
    for v in visits:
        keys = _firm_keys(v)
        found = next((group_of[k] for k in keys if k in group_of), None)
        if found is None:
            found = len(groups)
            groups.append([])
        groups[found].append(v)
        for k in keys:
            group_of.setdefault(k, found)
    return groups


def latest_visits_by_firm(engine: Engine) -> list[dict[str, Any]]:
    """Each firm's most recent visit, newest first (see :func:`group_by_firm`)."""
    return [group[0] for group in group_by_firm(list_visits(engine))]


def advisors(engine: Engine) -> list[str]:
    """The advisors named on saved visits, in name order."""
    stmt = select(Visit.advisor).where(Visit.advisor.is_not(None)).distinct().order_by(Visit.advisor)
    with _session(engine, "读取走访记录") as session:
        return [a for a in session.scalars(stmt) if a and a.strip()]


def visits_by_town(engine: Engine, *, today: date | None = None) -> list[dict[str, Any]]:
    """Per town: visits, firms visited, open follow-ups, overdue ones, the last visit date.
    Towns with the most visits first; visits without a town are counted under ``None``."""
    today = today or date.today()
    firm_key = func.coalesce(Visit.credit_code, Visit.firm_name)
    is_open = Visit.status == "open"
    overdue = and_(is_open, Visit.follow_up_due.is_not(None), Visit.follow_up_due < today)
    stmt = (
        select(
            Visit.town,
            func.count(Visit.id),
            func.count(func.distinct(firm_key)),
            func.coalesce(func.sum(case((is_open, 1), else_=0)), 0),
            func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
            func.max(Visit.visit_date),
        )
        .group_by(Visit.town)
        .order_by(func.count(Visit.id).desc(), Visit.town)
    )
    with _session(engine, "统计走访记录") as session:
        return [
            {"town": town, "visits": n, "firms": firms, "open": n_open, "overdue": overdue, "last_visit": last}
            for town, n, firms, n_open, overdue, last in session.execute(stmt)
        ]
