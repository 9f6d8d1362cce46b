"""Charts as inline SVG, rendered on the server: no JavaScript, no CDN, readable offline and in print.

Each chart is a stacked bar chart of one value per day per group, with a <title> on every bar (the
browser's tooltip) and an accessible name; the page shows the same numbers in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito), with enough contrast on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#6B6B6B")


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_max(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above ``value``: the y axis top."""
    if value <= 0:
        return 1.0
    exponent = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * exponent * (1 + 1e-9):
            return step * exponent
    return 10 * exponent


def stacked_bars(
    days: Sequence[date],
    series: dict[str, list[float]],
    groups: Sequence[str],
    *,
    label: str,
    fmt: Callable[[float], str],
    width: int = 480,
    height: int = 220,
) -> Markup:
    left, right, top, bottom = 56, 8, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(series[g][i] for g in groups) for i in range(len(days))]
    y_max = nice_max(max(totals, default=0.0))
    n = max(len(days), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.7, 40), 1.5)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(5):  # grid and y-axis labels
        value = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#5b6470">{escape(fmt(value))}</text>'
        )
    label_every = max(1, round(n / 6))
    for i, day in enumerate(days):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for g_index, group in enumerate(groups):
            value = series[group][i]
            if value <= 0:
                continue
            h = plot_h * value / y_max
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" fill="{colour(g_index)}">'
                f"<title>{escape(day.isoformat())} · {escape(group)}: {escape(fmt(value))}</title></rect>"
            )
        if (n - 1 - i) % label_every == 0:  # anchored on the last day (today)
            parts.append(
                f'<text x="{left + slot * i + slot / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="12" '
                f'fill="#5b6470">{day.strftime("%d %b")}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9aa3ad" stroke-width="1"/>'
    )
    if not any(totals):
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="14" '
            'fill="#5b6470">No requests in this period</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def swatch(index: int) -> Markup:
    return Markup(
        f'<svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" rx="2" '
        f'fill="{colour(index)}"/></svg>'
    )


def meter(share: float, label: str) -> Markup:
    """A horizontal budget bar (red from 90 %)."""
    pct = max(0.0, min(share, 1.0)) * 100
    fill = "#b3261e" if share >= 0.9 else "#c77700" if share >= 0.75 else "#1f7a4d"
    return Markup(
        f'<svg class="meter" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
        f'<rect width="100" height="8" rx="4" fill="#e3e6ea"/><rect width="{pct:.2f}" height="8" rx="4" fill="{fill}"/></svg>'
    )
