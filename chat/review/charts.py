"""Small bar charts as inline SVG, rendered on the server: no script, no library, nothing
fetched. Every label goes through `format_html`, so text from users stays text."""

import math
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 180
MARGIN_LEFT = 56
MARGIN_BOTTOM = 28
MARGIN_TOP = 12


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    css_class: str = "chart-a"


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10 * magnitude


def coordinate(value: float) -> str:
    return f"{value:.1f}"


def number(value: float) -> str:
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if value >= 0.01 else f"{value:.2g}"


def bar_chart(title: str, labels: list[str], series: list[Series]) -> SafeString:
    """Bars per label, the series side by side; a title and a y axis with its top value.

    Each bar has a `<title>` (the label, series and value) for a tooltip and for screen
    readers; the chart itself is labelled by `title`.
    """
    top = nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / max(len(labels), 1)
    bar = max(slot * 0.8 / max(len(series), 1), 1)
    bars = []
    for index, label in enumerate(labels):
        for offset, line in enumerate(series):
            value = line.values[index] if index < len(line.values) else 0
            height = plot_height * value / top
            x = MARGIN_LEFT + index * slot + slot * 0.1 + offset * bar
            y = MARGIN_TOP + plot_height - height
            bars.append(
                (line.css_class, *map(coordinate, (x, y, bar, height)), label, line.name,
                 number(value))
            )
    rects = format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}">'
        "<title>{}: {} {}</title></rect>",
        bars,
    )
    step = max(len(labels) // 6, 1)
    ticks = format_html_join(
        "",
        '<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (coordinate(MARGIN_LEFT + index * slot + slot / 2), HEIGHT - 8, label)
            for index, label in enumerate(labels)
            if index % step == 0
        ),
    )
    legend = format_html_join(
        "",
        '<tspan class="{}-text" dx="12">&#9632; {}</tspan>',
        ((line.css_class, line.name) for line in series),
    )
    return format_html(
        '<svg class="chat-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<text class="chart-title" x="{}" y="10">{}{}</text>'
        '<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="chart-tick" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="chart-tick" x="{}" y="{}" text-anchor="end">0</text>'
        "{}{}</svg>",
        title, WIDTH, HEIGHT,
        MARGIN_LEFT, title, legend,
        MARGIN_LEFT, MARGIN_TOP + plot_height, WIDTH - 8, MARGIN_TOP + plot_height,
        MARGIN_LEFT - 6, MARGIN_TOP + 10, number(top),
        MARGIN_LEFT - 6, MARGIN_TOP + plot_height,
        rects, ticks,
    )
