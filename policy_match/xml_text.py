"""Text that XML (and so Word, python-docx, the xlsx writer) can hold.

XML 1.0 allows tab, line feed, carriage return and the characters from U+0020 up, except the
surrogates and U+FFFE/U+FFFF. Text pasted from Word or PowerPoint often carries a vertical tab
(Word's manual line break) or a form feed (a page break); a browser or a JSON ``\\ud800`` escape
can carry a lone surrogate. python-docx refuses all of them, so one such character in a firm's
name or a visit note would make its brief fail every time it is opened.

``xml_safe`` keeps everything else exactly as typed: line and page breaks become line feeds, the
other forbidden characters are dropped.
"""

from __future__ import annotations

import re
from typing import Any

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str, line_break: str = "\n") -> str:
    """``text`` without the characters XML 1.0 cannot hold (see the module docstring); Word's
    line and page breaks become ``line_break`` (a space suits one-line fields such as a name)."""
    if _XML_INVALID.search(text) is None:
        return text
    return _XML_INVALID.sub("", text.replace("\x0b", line_break).replace("\x0c", line_break))


def has_xml_invalid(text: str) -> bool:
    return _XML_INVALID.search(text) is not None


def xml_safe_data(value: Any) -> Any:
    """``xml_safe`` over every string of a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, dict):
        return {xml_safe_data(k): xml_safe_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [xml_safe_data(v) for v in value]
    return value
