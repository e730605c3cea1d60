"""The dashboard's charts as pure functions: figures in, inline SVG out (no script, no CDN).

Each chart is an ``<svg role="img">`` named by its ``<title>`` and ``<desc>``; the page shows
the same figures as a table beside it, for screen readers and for anyone who prefers numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from services.common.web import french_number

MONTH_ABBREVIATIONS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août",
                       "sept.", "oct.", "nov.", "déc."]
BAR_AXIS_WIDTH = 260
INK, GRID, ACCENT, GOAL, NEEDED = "#1b1b1b", "#c8c8c8", "#00558f", "#b00020", "#8a4b00"


# --- axes -----------------------------------------------------------------------------------

def month_label(month: str) -> str:
    """« janv. 2027 » from ``2027-01``."""
    return f"{MONTH_ABBREVIATIONS[int(month[5:7]) - 1]} {month[:4]}"


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` (``YYYY-MM``), both included."""
    year, number = int(first[:4]), int(first[5:7])
    out = []
    while f"{year}-{number:02d}" <= last:
        out.append(f"{year}-{number:02d}")
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return out


def value_ticks(top: float, step: float) -> list[float]:
    """0, step, 2·step … up to ``top`` included."""
    count = int(top // step)
    return [round(i * step, 6) for i in range(count + 1)]


def round_up(value: float, step: float) -> float:
    """The smallest multiple of ``step`` at least ``value`` (at least one step)."""
    return max(step, -(-value // step) * step)


def labelled_months(months: Sequence[str]) -> list[str]:
    """The months named under the x axis: each January and July, the last month, and the
    first when no other name is within three months of it (so that names never overlap)."""
    if not months:
        return []
    named = [m for m in months[:-1] if m[5:7] in ("01", "07")]
    if named and len(months) - 1 - months.index(named[-1]) < 3:
        named.pop()  # too close to the last month's name
    named.append(months[-1])
    if months[0] != named[0] and months.index(named[0]) >= 3:
        named.insert(0, months[0])
    return named


# --- the line chart toward the goal -----------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """The plotting area inside the SVG's viewBox."""

    width: int = 640
    height: int = 340
    left: int = 64
    right: int = 44  # room for the last month's name
    top: int = 24
    bottom: int = 64

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


def _open_svg(ident: str, title: str, description: str, width: int, height: int) -> list[str]:
    return [f'<svg class="graphique" role="img" aria-labelledby="{ident}-titre {ident}-desc" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            'xmlns="http://www.w3.org/2000/svg">',
            f'<title id="{ident}-titre">{escape(title)}</title>',
            f'<desc id="{ident}-desc">{escape(description)}</desc>']


def _text(x: float, y: float, content: str, anchor: str = "middle", size: int = 13,
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{INK}"{extra}>{escape(content)}</text>')


def progress_chart(ident: str, months: Sequence[tuple[str, int | None]], goal: int, *,
                   title: str, description: str, frame: Frame = Frame()) -> Markup:
    """Cumulative mentees paired per month (``None``: a month to come) from the first month
    to the deadline's, the goal as a horizontal line, and the pace still needed as a dashed
    line from the last known month to the goal at the last month."""
    names = [m for m, _ in months]
    known = [(i, v) for i, (_, v) in enumerate(months) if v is not None]
    top_value = round_up(max([goal] + [v for _, v in known]), 100)
    span = max(len(months) - 1, 1)

    def x(index: float) -> float:
        return frame.left + frame.plot_width * index / span

    def y(value: float) -> float:
        return frame.top + frame.plot_height * (1 - value / top_value)

    parts = _open_svg(ident, title, description, frame.width, frame.height)
    bottom, right = frame.top + frame.plot_height, frame.left + frame.plot_width
    for tick in value_ticks(top_value, 100):
        parts.append(f'<line x1="{frame.left}" y1="{y(tick):.1f}" x2="{right}" '
                     f'y2="{y(tick):.1f}" stroke="{GRID}"/>')
        parts.append(_text(frame.left - 8, y(tick) + 4, french_number(tick), "end", 12))
    for index in range(len(names)):
        parts.append(f'<line x1="{x(index):.1f}" y1="{bottom}" x2="{x(index):.1f}" '
                     f'y2="{bottom + 4}" stroke="{INK}"/>')
    for month in labelled_months(names):
        index = names.index(month)
        parts.append(f'<line x1="{x(index):.1f}" y1="{bottom}" x2="{x(index):.1f}" '
                     f'y2="{bottom + 8}" stroke="{INK}"/>')
        parts.append(_text(x(index), bottom + 22, month_label(month), "middle", 12))
    parts.append(f'<line x1="{frame.left}" y1="{bottom}" x2="{right}" y2="{bottom}" '
                 f'stroke="{INK}"/>')
    parts.append(f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{bottom}" '
                 f'stroke="{INK}"/>')
    parts.append(_text(frame.left + frame.plot_width / 2, frame.height - 8, "Mois", size=13))
    parts.append(_text(16, frame.top + frame.plot_height / 2, "Jeunes en binôme (cumul)",
                       size=13, extra=f' transform="rotate(-90 16 '
                       f'{frame.top + frame.plot_height / 2:.1f})"'))
    parts.append(f'<line class="objectif" x1="{frame.left}" y1="{y(goal):.1f}" x2="{right}" '
                 f'y2="{y(goal):.1f}" stroke="{GOAL}" stroke-width="2" stroke-dasharray="8 4"/>')
    parts.append(_text(frame.left + 8, y(goal) - 6, f"Objectif : {french_number(goal)} jeunes",
                       "start", 13))
    if known:
        last_index, last_value = known[-1]
        if last_index < len(months) - 1 and last_value < goal:
            parts.append(f'<line class="rythme-necessaire" x1="{x(last_index):.1f}" '
                         f'y1="{y(last_value):.1f}" x2="{x(len(months) - 1):.1f}" '
                         f'y2="{y(goal):.1f}" stroke="{NEEDED}" stroke-width="2" '
                         f'stroke-dasharray="3 4"/>')
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in known)
        parts.append(f'<polyline class="courbe" points="{points}" fill="none" '
                     f'stroke="{ACCENT}" stroke-width="3"/>')
        parts.append(f'<circle cx="{x(last_index):.1f}" cy="{y(last_value):.1f}" r="4" '
                     f'fill="{ACCENT}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --- horizontal bars --------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no figure yet (no bar, « — »)
    shown: str  # the figure written at the end of the bar, in French


def bar_chart(ident: str, bars: Sequence[Bar], *, maximum: float,
              ticks: Sequence[tuple[float, str]], axis_label: str, title: str,
              description: str, reference: tuple[float, str] | None = None) -> Markup:
    """One horizontal bar per item, its label on the left and its figure on its right; the
    value axis below with its ticks and its name; an optional reference line (e.g. 100 %)."""
    label_width = label_width_for([bar.label for bar in bars])
    bar_height, gap, top, plot_width = 22, 10, 12, BAR_AXIS_WIDTH
    width = label_width + plot_width + 110  # room for the figure after a full bar
    bottom = top + len(bars) * (bar_height + gap)
    height = bottom + 52

    def x(value: float) -> float:
        return label_width + plot_width * min(value, maximum) / maximum

    parts = _open_svg(ident, title, description, width, height)
    for value, text in ticks:
        parts.append(f'<line x1="{x(value):.1f}" y1="{top - 4}" x2="{x(value):.1f}" '
                     f'y2="{bottom}" stroke="{GRID}"/>')
        parts.append(_text(x(value), bottom + 18, text, size=12))
    for i, bar in enumerate(bars):
        y = top + i * (bar_height + gap)
        parts.append(_text(label_width - 8, y + 16, bar.label, "end", 13))
        end = label_width
        if bar.value is not None:
            end = x(bar.value)
            parts.append(f'<rect class="barre" x="{label_width}" y="{y}" '
                         f'width="{max(end - label_width, 1):.1f}" height="{bar_height}" '
                         f'fill="{ACCENT}"/>')
        parts.append(_text(end + 6, y + 16, bar.shown, "start", 13, ' font-weight="bold"'))
    parts.append(f'<line x1="{label_width}" y1="{bottom}" x2="{label_width + plot_width}" '
                 f'y2="{bottom}" stroke="{INK}"/>')
    if reference is not None:
        value, text = reference
        parts.append(f'<line class="reference" x1="{x(value):.1f}" y1="{top - 8}" '
                     f'x2="{x(value):.1f}" y2="{bottom}" stroke="{GOAL}" stroke-width="2" '
                     f'stroke-dasharray="6 3"/>')
        parts.append(_text(x(value), bottom + 34, text, size=12))
    parts.append(_text(label_width + plot_width / 2, height - 4, axis_label, size=13))
    parts.append("</svg>")
    return Markup("".join(parts))


def label_width_for(labels: Sequence[str]) -> int:
    """Room for the longest label at 13 px (at most 8 px a character), within bounds."""
    return min(340, max(100, 8 * max((len(label) for label in labels), default=0) + 16))


def percent_ticks(maximum: float) -> list[tuple[float, str]]:
    """0 %, 25 % … up to ``maximum`` (a share, 1 = 100 %)."""
    return [(t, f"{french_number(t * 100)}\u202f%") for t in value_ticks(maximum, 0.25)]


def scale_ticks(top: int = 5) -> list[tuple[float, str]]:
    """0 to 5 for ratings on a 1-to-5 scale."""
    return [(float(t), str(t)) for t in range(top + 1)]
