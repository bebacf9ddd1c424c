"""A CJK font for the notebooks' charts.

``chart_font`` never raises: it uses the Noto CJK collection that Debian's ``fonts-noto-cjk``
installs, else any font matplotlib knows with "CJK" in its name, else none — and then the charts
switch to English labels instead of drawing empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

CJK_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@dataclass
class ChartFont:
    """``T("中文", "English")`` picks the label the chart font can draw; ``prop`` is the font."""

    prop: Any = None  # matplotlib.font_manager.FontProperties | None
    source: str = "none"

    @property
    def chinese(self) -> bool:
        return self.prop is not None

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.chinese else en

    def __str__(self) -> str:
        return f"chart font: {self.prop.get_name()} ({self.source})" if self.prop else \
            "chart font: no CJK font found, charts use English labels"


def _cjk_candidates(font_manager) -> list[str]:
    names = sorted({f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name})
    # Simplified Chinese first, sans before serif.
    return sorted(names, key=lambda n: ("SC" not in n, "Serif" in n, n))


def chart_font(path: Path | str = CJK_TTC) -> ChartFont:
    """Configure matplotlib for Chinese labels (rcParams) and return the font used."""
    try:
        import matplotlib.pyplot as plt
        from matplotlib import font_manager

        path = Path(path)
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
            prop, source = font_manager.FontProperties(fname=str(path)), str(path)
        else:
            names = _cjk_candidates(font_manager)
            if not names:
                return ChartFont()
            prop, source = font_manager.FontProperties(family=names[0]), "matplotlib.font_manager"
        plt.rcParams["font.family"] = "sans-serif"
        plt.rcParams["font.sans-serif"] = [prop.get_name(), *plt.rcParams["font.sans-serif"]]
        plt.rcParams["axes.unicode_minus"] = False
        return ChartFont(prop, source)
    except Exception as exc:  # a chart font must never stop a notebook
        print(f"chart font set-up failed ({exc!r}); using English labels")
        return ChartFont()
