"""Source classes: how far a bureau can defend a fact, by where it was read.

The class of every source domain is data (``data/sources.csv``: domain, class, note), so a new
record's sources are classified once, reviewed like any other fact, and checked by
``policy-match validate``. A source that is not a URL is a document cited by its 文号 (the reply
letter 中工信函〔2022〕47号): the document itself, i.e. official.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from .knowledge import DATA_DIR

SOURCES_CSV = DATA_DIR / "sources.csv"

# Best first: the order sources are shown in.
SOURCE_CLASSES: dict[str, str] = {
    "official": "政府官方网页",
    "gov_copy": "政府网页转载或其他政府的摘要",
    "news": "新闻报道",
    "other": "其他网站",
}
_RANK = {name: i for i, name in enumerate(SOURCE_CLASSES)}
_DOC_NUMBER = re.compile(r"〔\d{4}〕\d+号")


@dataclass(frozen=True)
class SourceInfo:
    source: str
    source_class: str  # a key of SOURCE_CLASSES, or "unclassified"
    note: str = ""

    @property
    def label(self) -> str:
        return SOURCE_CLASSES.get(self.source_class, "未分类")

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


def read_source_classes(path: Path = SOURCES_CSV) -> dict[str, tuple[str, str]]:
    """domain → (class, note); unknown classes are kept so that ``validate`` can name them."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {row["domain"].strip().lower(): (row["class"].strip(), (row.get("note") or "").strip())
                for row in csv.DictReader(fh) if row.get("domain")}


@lru_cache(maxsize=1)
def _bundled_classes() -> dict[str, tuple[str, str]]:
    return read_source_classes()


def domain_of(source: str) -> str:
    return (urlsplit(source).hostname or "").lower()


def classify(source: str, classes: dict[str, tuple[str, str]] | None = None) -> SourceInfo:
    """The class of one source: the most specific listed domain wins (en.zsnews.cn before zsnews.cn)."""
    classes = _bundled_classes() if classes is None else classes
    if not source.startswith(("http://", "https://")):
        if _DOC_NUMBER.search(source):
            return SourceInfo(source, "official", "文件本身（按文号引用）")
        return SourceInfo(source, "unclassified")
    host = domain_of(source)
    parts = host.split(".")
    for i in range(len(parts) - 1):
        hit = classes.get(".".join(parts[i:]))
        if hit is not None:
            return SourceInfo(source, hit[0], hit[1])
    return SourceInfo(source, "unclassified")


def ranked(sources: list[str], classes: dict[str, tuple[str, str]] | None = None) -> list[SourceInfo]:
    """Sources best class first (official pages first), keeping the data's order within a class."""
    infos = [classify(s, classes) for s in sources]
    return sorted(infos, key=lambda s: _RANK.get(s.source_class, len(_RANK)))


def weakest_only(sources: list[str]) -> bool:
    """True when every source is of class ``other``: the item must say so."""
    infos = [classify(s) for s in sources]
    return bool(infos) and all(s.source_class == "other" for s in infos)
