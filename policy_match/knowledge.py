"""The policy knowledge base: load and validate a directory of YAML records.

One file per record. A broken file never stops the rest from loading: each problem becomes
one ``DataProblem`` line naming the file and the field, and the valid records are returned.
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from .schema import PolicyRecord, SupportItem, Validity, date_bounds

# libyaml's C loader is ~5x faster than the pure-Python one; both are "safe" loaders.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_POLICY_BYTES = 1024 * 1024  # the largest record is about 25 KB
# Far above any amount or threshold of a Zhongshan policy (万元, ㎡, 人); a number beyond it is a
# typing slip, and it keeps every computed amount finite (the JSON output has no Infinity).
MAX_RECORD_NUMBER = 1e12
# Records nest about 8 levels deep. libyaml's composer recurses in C: a flow sequence nested
# 100,000 deep crashes the interpreter (a segmentation fault, not an exception), so the depth is
# checked on the event stream, which libyaml produces without recursion, before composing.
MAX_YAML_DEPTH = 64
_OPEN_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class _PolicyLoader(_SAFE_LOADER):
    """The safe loader, stricter where YAML is silently lenient or fails with a bare Python error:

    - a key given twice in one mapping is an error naming the key and both lines (YAML would
      keep the last one without a word);
    - a value its tag cannot build (an impossible date such as ``2022-06-31``, ``!!float abc``)
      is an error at its line, not a ``ValueError`` from deep inside the constructor;
    - anchors and aliases (``&a`` / ``*a``) are refused: one record per file needs none, and
      nested aliases can make a tiny file expand into billions of values.
    """

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "anchors and aliases (&name / *name) are not allowed in policy files", node.start_mark)
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError):
            shown = str(node.value)[:60] if isinstance(node, yaml.ScalarNode) else "this value"
            kind = node.tag.rsplit(":", 1)[-1]
            message = f"'{shown}' is not a real date" if kind == "timestamp" else f"cannot read '{shown}' as {kind}"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = (key_node.tag, key_node.value)
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key_node.value}' (first given at line {first_line[key]})",
                        key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _find_data_dir() -> Path:
    """Bundled data: inside the installed package (wheel) or at the repository root."""
    env = os.environ.get("POLICY_MATCH_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "data", here.parent / "data"):
        if (candidate / "policies").is_dir():
            return candidate
    return here.parent / "data"


DATA_DIR = _find_data_dir()
POLICY_DIR = DATA_DIR / "policies"
VOCAB_DIR = DATA_DIR / "vocab"
CATALOG_CSV = DATA_DIR / "catalog.csv"


@dataclass(frozen=True)
class DataProblem:
    file: str
    field: str
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass
class KnowledgeBase:
    policies: list[PolicyRecord]
    problems: list[DataProblem] = field(default_factory=list)
    directory: Path | None = None

    def items(self) -> list[tuple[PolicyRecord, SupportItem]]:
        return [(p, it) for p in self.policies for it in p.items]

    def policy(self, policy_id: str) -> PolicyRecord:
        for p in self.policies:
            if p.policy_id == policy_id:
                return p
        raise KeyError(policy_id)

    @property
    def ok(self) -> bool:
        return not self.problems


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(record)"


def _describe(err: dict, data: object) -> tuple[str, str]:
    """Turn a pydantic error into (field path, message), naming items by their id."""
    loc = list(err["loc"])
    # Union/model-validator noise: pydantic appends the class name for 'after' validators.
    path = _loc(tuple(loc))
    if isinstance(data, dict) and len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        try:
            item_id = data["items"][loc[1]].get("item_id")
            if item_id:
                path = path.replace(f"items[{loc[1]}]", f"items[{item_id}]", 1)
        except (IndexError, AttributeError, KeyError, TypeError):
            pass
    msg = err.get("msg", "").removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown field (not in the schema; see README 'Policy data format')"
    elif err.get("type") == "missing":
        msg = "required field is missing"
    return path, msg


def _non_finite(value: object, loc: tuple = ()) -> Iterator[tuple[tuple, float]]:
    """Every number of a loaded record that is not finite or implausibly large, with its place."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not (math.isfinite(value) and abs(value) <= MAX_RECORD_NUMBER):
            yield loc, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _non_finite(child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _non_finite(child, (*loc, i))


def _read_policy_text(path: Path) -> tuple[str | None, DataProblem | None]:
    """The file's text, or why it cannot be read. Only regular files are opened: a FIFO named
    ``x.yaml`` would block for ever, a device would never end, a directory cannot be read."""
    name = path.name
    try:
        info = path.stat()
    except OSError as exc:
        return None, DataProblem(name, "(file)", f"cannot read: {exc.strerror} (skipped)")
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) \
            else "a device or other special file"
        return None, DataProblem(name, "(file)", f"{kind}, not a policy file (skipped)")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        return None, DataProblem(name, "(file)", f"cannot read: {exc.strerror} (skipped)")
    if len(raw) > MAX_POLICY_BYTES:
        return None, DataProblem(name, "(file)", f"larger than {MAX_POLICY_BYTES // 1024} KB; one record is far smaller")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, DataProblem(name, "(file)", f"not UTF-8 text ({exc.reason} at byte {exc.start})")


def _too_deep(text: str) -> yaml.Mark | None:
    """Where the YAML first nests deeper than ``MAX_YAML_DEPTH``, or ``None``."""
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, _OPEN_EVENTS):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                return event.start_mark
        elif isinstance(event, _CLOSE_EVENTS):
            depth -= 1
    return None


def load_record(path: Path) -> tuple[PolicyRecord | None, list[DataProblem]]:
    """One policy file → its record, or one line per problem naming the file and the field.
    Never raises: whatever the file holds, the other files still load."""
    name = path.name
    text, problem = _read_policy_text(path)
    if problem is not None:
        return None, [problem]
    try:
        deep = _too_deep(text)
        if deep is not None:
            return None, [DataProblem(name, f"line {deep.line + 1}, column {deep.column + 1}",
                                      f"malformed YAML: nested more than {MAX_YAML_DEPTH} levels deep")]
        data = yaml.load(text, Loader=_PolicyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no line, a position
            where = f"character {exc.position + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in problem:  # PyYAML ≥ 6.0.4 stops deep flow collections itself
            problem = f"nested more than {MAX_YAML_DEPTH} levels deep"
        return None, [DataProblem(name, where, f"malformed YAML: {problem}")]
    except RecursionError:
        return None, [DataProblem(name, "(yaml)", "malformed YAML: nested too deeply")]
    if not isinstance(data, dict):
        return None, [DataProblem(name, "(record)", "a policy file must be a YAML mapping")]
    try:
        record = PolicyRecord.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path_, msg = _describe(err, data)
            problems.append(DataProblem(name, path_, msg))
        return None, problems
    except Exception as exc:  # noqa: BLE001 - a validator tripping on a value it did not expect
        return None, [DataProblem(name, "(record)", f"cannot validate: {type(exc).__name__}: {exc}")]
    # After validation, so that "1e308" (a string to YAML, a number to the schema) is seen too.
    bad_numbers = [
        DataProblem(name, _describe({"loc": loc, "msg": ""}, data)[0],
                    f"number {value!r} is not allowed (must be finite and at most {MAX_RECORD_NUMBER:g})")
        for loc, value in _non_finite(record.model_dump(by_alias=True, exclude_defaults=True))
    ]
    if bad_numbers:
        return None, bad_numbers
    if path.stem != record.policy_id:
        return None, [DataProblem(name, "policy_id", f"'{record.policy_id}' does not match the file name")]
    return record, []


def read_catalog(path: Path = CATALOG_CSV) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def load_directory(directory: Path | str | None = None, *, check_catalog: bool | None = None,
                   today: date | None = None) -> KnowledgeBase:
    """Load every ``*.yaml``/``*.yml`` record in ``directory`` (default: the bundled base).

    Invalid files are reported in ``problems`` and skipped; valid ones load. The validity data
    of the loaded records is checked against each other and against ``today`` (default: the
    system date); those problems are reported, the records still load. With ``check_catalog``
    (default: for the bundled directory) every id of ``data/catalog.csv`` must be present and
    no record may be outside it.
    """
    directory = Path(directory) if directory is not None else POLICY_DIR
    bundled = directory.resolve() == POLICY_DIR.resolve()
    if check_catalog is None:
        check_catalog = bundled
    if not directory.is_dir():
        return KnowledgeBase([], [DataProblem(str(directory), "(directory)", "no such directory")], directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    policies: list[PolicyRecord] = []
    problems: list[DataProblem] = []
    seen_policy: dict[str, str] = {}
    seen_item: dict[str, str] = {}
    for path in files:
        record, errs = load_record(path)
        problems.extend(errs)
        if record is None:
            continue
        if record.policy_id in seen_policy:
            problems.append(
                DataProblem(path.name, "policy_id", f"duplicate id '{record.policy_id}' (also in {seen_policy[record.policy_id]})")
            )
            continue
        dup = [it.item_id for it in record.items if it.item_id in seen_item]
        if dup:
            problems.append(DataProblem(path.name, "items.item_id", f"duplicate item id '{dup[0]}' (also in {seen_item[dup[0]]})"))
            continue
        seen_policy[record.policy_id] = path.name
        seen_item.update({it.item_id: path.name for it in record.items})
        policies.append(record)
    if not files:
        problems.append(DataProblem(str(directory), "(directory)", "no policy files (*.yaml) found"))
    problems.extend(validity_problems(policies, seen_policy, today or date.today()))
    if check_catalog:
        problems.extend(_source_problems(policies, seen_policy))
        catalog = read_catalog()
        ids = {row["policy_id"] for row in catalog}
        for row in catalog:
            if row["policy_id"] not in seen_policy:
                problems.append(DataProblem(f"{row['policy_id']}.yaml", "(file)", "catalog id has no policy file"))
        for pid, fname in seen_policy.items():
            if ids and pid not in ids:
                problems.append(DataProblem(fname, "policy_id", f"'{pid}' is not in data/catalog.csv"))
    return KnowledgeBase(policies, problems, directory)


@lru_cache(maxsize=4)
def bundled_knowledge_base() -> KnowledgeBase:
    """The bundled base, loaded once per process."""
    return load_directory(POLICY_DIR)


def _record_sources(record: PolicyRecord) -> list[tuple[str, str]]:
    """(field path, source) for every source a record cites."""
    out = [(f"sources[{i}]", s) for i, s in enumerate(record.sources)]
    blocks = [("validity", record.validity)] + [(f"items[{it.item_id}].period", it.period) for it in record.items]
    for where, v in blocks:
        out += [(f"{where}.evidence[{i}].source", e.source) for i, e in enumerate(v.evidence)]
        out += [(f"{where}.windows[{i}].source", w.source) for i, w in enumerate(v.windows) if w.source]
    if record.contact:
        out.append(("contact.source", record.contact.source))
    for it in record.items:
        out += [(f"items[{it.item_id}].sources[{i}]", s) for i, s in enumerate(it.sources)]
        out += [(f"items[{it.item_id}].conditions[{i}].source", c.source) for i, c in enumerate(it.conditions)]
        if it.contact:
            out.append((f"items[{it.item_id}].contact.source", it.contact.source))
    return out


def _source_problems(policies: list[PolicyRecord], files: dict[str, str]) -> list[DataProblem]:
    """Every source must have a class in data/sources.csv (official / gov_copy / news / other)."""
    from .sources import SOURCE_CLASSES, SOURCES_CSV, classify, read_source_classes

    classes = read_source_classes(SOURCES_CSV)
    problems = [DataProblem("sources.csv", f"domain {d}", f"unknown class '{c}' (one of {', '.join(SOURCE_CLASSES)})")
                for d, (c, _) in classes.items() if c not in SOURCE_CLASSES]
    for record in policies:
        for where, source in _record_sources(record):
            if classify(source, classes).source_class == "unclassified":
                what = f"domain '{source.split('/')[2]}'" if source.startswith("http") else f"'{source}'"
                problems.append(DataProblem(files[record.policy_id], where,
                                            f"source {what} has no class in data/sources.csv"))
    return problems


# A call year further than this from the record's issue year is taken for a typing slip (2202).
_INTAKE_YEAR_SPAN = 20
_POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9-]+$")


def _validity_blocks(record: PolicyRecord) -> list[tuple[str, Validity]]:
    return [("validity", record.validity)] + [(f"items[{it.item_id}].period", it.period) for it in record.items]


def _window_problems(where: str, v: Validity, bounds: Validity, what: str) -> list[tuple[str, str]]:
    """Windows of ``v`` that lie wholly before the start or after the end of ``bounds``."""
    out = []
    for i, w in enumerate(v.windows):
        if w.end and bounds.start and date_bounds(w.end)[1] < date_bounds(bounds.start)[0]:
            out.append((f"{where}.windows[{i}]", f"申报窗口截止于 {w.end}，早于{what}的起始日 {bounds.start}"))
        if w.start and bounds.end and date_bounds(w.start)[0] > date_bounds(bounds.end)[1]:
            out.append((f"{where}.windows[{i}]", f"申报窗口始于 {w.start}，晚于{what}的截止日 {bounds.end}"))
    return out


def _document_numbers(policies: list[PolicyRecord]) -> set[str]:
    """Every 文号 the base holds (records and their bundles), split where several are listed."""
    numbers: set[str] = set()
    for p in policies:
        for text in [p.doc_number] + [b.doc_number for b in p.bundles]:
            numbers.update(n.strip() for n in re.split("[；;、]", text or "") if n.strip())
    return numbers


def _in_department(contact_department: str, department: str | None) -> bool:
    return department is None or contact_department in [d.strip() for d in re.split("[；;、]", department)]


def validity_problems(policies: list[PolicyRecord], files: dict[str, str], today: date) -> list[DataProblem]:
    """Checks that make the validity data trustworthy, one line per problem naming file and field.

    - a window wholly outside its own ``from``/``to`` or, for an item, outside the record's;
    - a call year in the future, far from the issue year, or after the documented end;
    - dated evidence in the future; ``ended: true`` with an end date still ahead;
    - ``superseded_by`` naming neither a policy id nor a 文号 of the base;
    - a record that is ``unknown`` today with no ``note``, ``confirm`` or ``evidence`` (an
      advisor would not know what to confirm);
    - a contact of another department than the one it is attached to.
    """
    from .validity import UNKNOWN, record_validity

    ids = {p.policy_id for p in policies}
    numbers = _document_numbers(policies)
    problems: list[DataProblem] = []
    for record in policies:
        found: list[tuple[str, str]] = []
        issued_year = date_bounds(record.issued)[0].year if record.issued else None
        for where, v in _validity_blocks(record):
            found += _window_problems(where, v, v, "本有效期")
            if where != "validity":
                found += _window_problems(where, v, record.validity, "政策有效期")
            call_years = sorted(set(v.intakes) | {date_bounds(d)[0].year for w in v.windows for d in (w.start, w.end) if d})
            for year in call_years:
                if year > today.year:
                    found.append((f"{where}.intakes", f"申报年份 {year} 在今天（{today.isoformat()}）之后，不可能已有申报通知"))
                elif issued_year is not None and abs(year - issued_year) > _INTAKE_YEAR_SPAN:
                    found.append((f"{where}.intakes", f"申报年份 {year} 与发布年份 {issued_year} 相差超过{_INTAKE_YEAR_SPAN}年，疑为笔误"))
                for end in (v.end, record.validity.end):
                    if end and year > date_bounds(end)[1].year + 1:
                        found.append((f"{where}.intakes", f"申报年份 {year} 晚于有效期截止 {end} 一年以上"))
                        break
            for i, e in enumerate(v.evidence):
                if date_bounds(e.date)[0] > today:
                    found.append((f"{where}.evidence[{i}].date", f"证据日期 {e.date} 在今天（{today.isoformat()}）之后"))
            if v.ended and v.end and date_bounds(v.end)[0] > today:
                found.append((f"{where}.ended", f"标为已结束（ended: true），但截止日 {v.end} 还未到"))
            if v.superseded_by:
                target = v.superseded_by.strip()
                if target == record.policy_id:
                    found.append((f"{where}.superseded_by", "不能由本记录自己接续"))
                elif _POLICY_ID.match(target) and target not in ids:
                    found.append((f"{where}.superseded_by", f"政策编号 '{target}' 不在政策库中"))
                elif not _POLICY_ID.match(target) and target not in numbers:
                    found.append((f"{where}.superseded_by", f"'{target}' 既不是政策编号，也不是政策库中任何记录的文号"))
        v = record.validity
        if record_validity(record, today).validity == UNKNOWN and not (v.note or v.confirm or v.evidence):
            found.append(("validity", f"今天（{today.isoformat()}）有效期待确认，但没有 note、confirm 或 evidence："
                                      "请写明已知情况，以及顾问应向哪个部门确认什么"))
        contacts = [("contact", record.contact, record.department)] + [
            (f"items[{it.item_id}].contact", it.contact, it.department or record.department) for it in record.items]
        for where, contact, department in contacts:
            if contact is not None and not _in_department(contact.department, department):
                found.append((where, f"联系人属于{contact.department}，与所列主管部门（{department}）不符：另一部门的联系人不能作为本项的联系人"))
        problems += [DataProblem(files[record.policy_id], where, message) for where, message in found]
    return problems
