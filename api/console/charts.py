"""Small server-side SVG bar charts for the report (no charting library, nothing to load).

Each chart is an ``<svg role="img">`` with a title and a description, and the page shows the
same figures in a table next to it, so a screen reader gets the numbers, not a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR_H = 22
GAP = 8
LABEL_W = 120
WIDTH = 480
COLORS = ("#1b6e3a", "#a3262a", "#2c5aa0")
# Colours that mean what they show: green only for on time, red for late, a darker orange for
# late so far (open past the deadline), blue for counts that are neither good nor bad, grey for
# no response yet.
ON_TIME, LATE, LATE_SO_FAR, NEUTRAL, WAITING = "#1b6e3a", "#a3262a", "#8a4b00", "#2c5aa0", "#5f5f5f"


def bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[int]]],
    series: Sequence[str],
    *,
    chart_id: str,
    colors: Sequence[str] = COLORS,
) -> Markup:
    """Horizontal stacked bars: one row per label, one segment per series (``colors``, in turn)."""
    total_max = max([sum(v) for _, v in rows] + [1])
    scale = (WIDTH - LABEL_W - 60) / total_max
    height = len(rows) * (BAR_H + GAP) + 34
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{s} {n}" for s, n in zip(series, values, strict=True))
        for label, values in rows
    )
    out = [
        f'<svg role="img" aria-labelledby="{chart_id}-t {chart_id}-d" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    for r, (label, values) in enumerate(rows):
        y = r * (BAR_H + GAP) + 4
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + BAR_H * 0.7:.0f}" text-anchor="end" class="label">'
            f"{escape(label)}</text>"
        )
        x = float(LABEL_W)
        for i, n in enumerate(values):
            w = n * scale
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" '
                    f'fill="{colors[i % len(colors)]}"/>'
                )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + BAR_H * 0.7:.0f}" class="value">{sum(values)}</text>')
    # Legend.
    ly = len(rows) * (BAR_H + GAP) + 20
    lx = LABEL_W
    for i, s in enumerate(series):
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colors[i % len(colors)]}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly}" class="legend">{escape(s)}</text>')
        lx += 16 + 9 * len(s) + 20
    out.append("</svg>")
    return Markup("".join(out))
