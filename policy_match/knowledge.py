"""The policy knowledge base: load and validate a directory of YAML records.

One file per record. A broken file never stops the rest from loading: each problem becomes
one ``DataProblem`` line naming the file and the field, and the valid records are returned.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from .schema import PolicyRecord, SupportItem

# libyaml's C loader is ~5x faster than the pure-Python one; both are "safe" loaders.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def load_record(path: Path) -> tuple[PolicyRecord | None, list[DataProblem]]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [DataProblem(name, "(file)", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, [DataProblem(name, "(file)", f"cannot read: {exc.strerror}")]
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [DataProblem(name, where, f"malformed YAML: {problem}")]
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
    if path.stem != record.policy_id:
        return None, [DataProblem(name, "policy_id", f"'{record.policy_id}' does not match the file name")]
    return record, []


def read_catalog(path: Path = CATALOG_CSV) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def load_directory(directory: Path | str | None = None, *, check_catalog: bool | None = None) -> KnowledgeBase:
    """Load every ``*.yaml``/``*.yml`` record in ``directory`` (default: the bundled base).

    Invalid files are reported in ``problems`` and skipped; valid ones load. With
    ``check_catalog`` (default: for the bundled directory) every id of ``data/catalog.csv``
    must be present and no record may be outside it.
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
