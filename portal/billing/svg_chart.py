"""A grouped horizontal bar chart as an inline SVG string (pure: no Flask, no database).

One group per label, one bar per series (revenue vs cost), integer cents in one currency.
Colours are the Okabe–Ito blue and orange, which stay apart for colour-blind readers; every
bar also carries its value as text, so nothing depends on colour alone.
"""
from html import escape

from .money import CURRENCY_SYMBOLS, format_cents

COLOURS = ("#0072B2", "#E69F00")  # blue, orange

WIDTH = 760
LABEL_WIDTH = 200  # left column for group labels
VALUE_SPACE = 96  # right of the longest bar, for its value label
PLOT_X = LABEL_WIDTH + 10
PLOT_WIDTH = WIDTH - PLOT_X - VALUE_SPACE
BAR_HEIGHT = 16
BAR_GAP = 2
GROUP_GAP = 16
GROUP_HEIGHT = 2 * BAR_HEIGHT + BAR_GAP + GROUP_GAP
PLOT_TOP = 62
MAX_LABEL_CHARS = 28
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def nice_step(max_cents: int, ticks: int = 4) -> int:
    """A round tick step in cents (1, 2 or 5 × a power of ten, whole currency units) that
    covers ``max_cents`` in about ``ticks`` steps."""
    raw = max(max_cents, 1) / ticks
    magnitude = 100
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= raw:
                return factor * magnitude
        magnitude *= 10


def axis_max(max_cents: int) -> int:
    step = nice_step(max_cents)
    return max(step, -(-max_cents // step) * step)


def tick_label(cents: int, currency: str) -> str:
    return f"{CURRENCY_SYMBOLS.get(currency, '')}{cents // 100:,}"


def value_label(cents: int, currency: str) -> str:
    return format_cents(cents, CURRENCY_SYMBOLS.get(currency, ""))


def bar_length(cents: int, scale_max: int) -> float:
    """Pixels for ``cents`` on an axis that ends at ``scale_max``; negative clips to 0."""
    return round(max(cents, 0) * PLOT_WIDTH / scale_max, 2)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[:MAX_LABEL_CHARS - 1] + "…"


def _svg_open(height: int, title: str, desc: str) -> list[str]:
    t = escape(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{t}" {FONT} font-size="12">',
        f"<title>{t}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]


def no_data(title: str) -> str:
    parts = _svg_open(90, title, "No data for this period.")
    parts += [
        f'<text x="12" y="24" font-size="15" font-weight="600" fill="#1d2430">{escape(title)}</text>',
        '<text x="12" y="60" fill="#5b6474">No data for this period</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def bar_chart(groups: list[tuple[str, int, int]], *, title: str, currency: str,
              series: tuple[str, str] = ("Revenue", "Cost")) -> str:
    """``groups``: (label, first series cents, second series cents), drawn top to bottom."""
    if not groups:
        return no_data(title)
    for _label, *values in groups:
        if any(not isinstance(v, int) for v in values):
            raise TypeError("bar values are integer cents")
    scale = axis_max(max(max(a, b, 0) for _l, a, b in groups))
    step = nice_step(max(max(a, b, 0) for _l, a, b in groups))
    plot_height = len(groups) * GROUP_HEIGHT
    axis_y = PLOT_TOP + plot_height
    height = axis_y + 34

    desc = "; ".join(f"{label}: {series[0]} {value_label(a, currency)}, "
                     f"{series[1]} {value_label(b, currency)}" for label, a, b in groups)
    parts = _svg_open(height, title, desc)
    parts.append(f'<text x="0" y="20" font-size="15" font-weight="600" fill="#1d2430">'
                 f"{escape(title)}</text>")

    # Legend: swatches are paths, so every <rect> in the chart is a bar.
    x = 0
    for name, colour in zip(series, COLOURS):
        parts.append(f'<path d="M{x} 33h14v14h-{14}z" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="44" fill="#1d2430">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    parts.append(f'<text x="{x + 10}" y="44" fill="#5b6474">({escape(currency)})</text>')

    # Grid and axis.
    for tick in range(0, scale + 1, step):
        tx = round(PLOT_X + tick * PLOT_WIDTH / scale, 2)
        parts.append(f'<line x1="{tx}" y1="{PLOT_TOP - 6}" x2="{tx}" y2="{axis_y}" '
                     f'stroke="{"#5b6474" if tick == 0 else "#d9dde4"}" stroke-width="1"/>')
        parts.append(f'<text x="{tx}" y="{axis_y + 18}" text-anchor="middle" fill="#5b6474">'
                     f"{escape(tick_label(tick, currency))}</text>")
    parts.append(f'<line x1="{PLOT_X}" y1="{axis_y}" x2="{PLOT_X + PLOT_WIDTH}" y2="{axis_y}" '
                 'stroke="#5b6474" stroke-width="1"/>')

    for index, (label, *values) in enumerate(groups):
        top = PLOT_TOP + index * GROUP_HEIGHT
        middle = top + BAR_HEIGHT + BAR_GAP / 2
        parts.append(f'<g class="group"><text x="{LABEL_WIDTH}" y="{middle}" text-anchor="end" '
                     f'dominant-baseline="middle" fill="#1d2430"><title>{escape(label)}</title>'
                     f"{escape(_short(label))}</text>")
        for n, (name, colour, cents) in enumerate(zip(series, COLOURS, values)):
            y = top + n * (BAR_HEIGHT + BAR_GAP)
            length = bar_length(cents, scale)
            text = value_label(cents, currency)
            parts.append(
                f'<rect x="{PLOT_X}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{colour}" '
                f'data-series="{escape(name)}" data-value="{cents}">'
                f"<title>{escape(label)}, {escape(name)}: {escape(text)}</title></rect>")
            parts.append(f'<text x="{round(PLOT_X + length + 5, 2)}" y="{y + BAR_HEIGHT / 2}" '
                         f'dominant-baseline="middle" font-size="11" fill="#1d2430">'
                         f"{escape(text)}</text>")
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
