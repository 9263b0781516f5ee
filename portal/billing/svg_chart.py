"""A grouped horizontal bar chart as an inline SVG string (pure: no Flask, no database).

One group per label, one bar per series (revenue vs cost), integer cents in one currency.
Colours are the Okabe–Ito blue and orange, which stay apart for colour-blind readers; every
bar also carries its value as text, so nothing depends on colour alone.
"""
from dataclasses import dataclass
from html import escape

from .money import CURRENCY_SYMBOLS, format_cents

COLOURS = ("#0072B2", "#E69F00")  # blue, orange

BAR_HEIGHT = 16
BAR_GAP = 2
GROUP_GAP = 16
PLOT_TOP = 62


@dataclass(frozen=True)
class Layout:
    """Where things go. Wide: group labels in a left column beside their bars. Narrow (a
    phone): each label on a line of its own above its bars, which take the whole width, so
    the text keeps its size when the page scales the chart down to 360 px."""
    width: int
    label_width: int  # 0: labels above the bars
    value_space: int  # right of the longest bar, for its value label
    max_label_chars: int
    title_size: int = 15  # "Revenue and cost by deployment, September 2026" fits at 13 in 360

    @property
    def plot_x(self) -> int:
        return self.label_width + 10 if self.label_width else 0

    @property
    def plot_width(self) -> int:
        return self.width - self.plot_x - self.value_space

    @property
    def label_line(self) -> int:
        return 0 if self.label_width else 18

    @property
    def group_height(self) -> int:
        return self.label_line + 2 * BAR_HEIGHT + BAR_GAP + GROUP_GAP


WIDE = Layout(width=760, label_width=200, value_space=96, max_label_chars=28)
NARROW = Layout(width=360, label_width=0, value_space=84, max_label_chars=44, title_size=13)
PLOT_WIDTH = WIDE.plot_width
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


def bar_length(cents: int, scale_max: int, layout: Layout = WIDE) -> float:
    """Pixels for ``cents`` on an axis that ends at ``scale_max``; negative clips to 0."""
    return round(max(cents, 0) * layout.plot_width / scale_max, 2)


def _short(label: str, layout: Layout = WIDE) -> str:
    limit = layout.max_label_chars
    return label if len(label) <= limit else label[:limit - 1] + "…"


def _svg_open(height: int, title: str, desc: str, layout: Layout = WIDE) -> list[str]:
    t = escape(title)
    name = "bar-chart" if layout is WIDE else "bar-chart bar-chart-narrow"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{name}" viewBox="0 0 {layout.width} {height}" '
        f'width="{layout.width}" height="{height}" role="img" aria-label="{t}" {FONT} font-size="12">',
        f"<title>{t}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]


def no_data(title: str, layout: Layout = WIDE) -> str:
    parts = _svg_open(90, title, "No data for this period.", layout)
    parts += [
        f'<text x="12" y="24" font-size="{layout.title_size}" font-weight="600" fill="#1d2430">'
        f'{escape(title)}</text>',
        '<text x="12" y="60" fill="#5b6474">No data for this period</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def bar_chart(groups: list[tuple[str, int, int]], *, title: str, currency: str,
              series: tuple[str, str] = ("Revenue", "Cost"), layout: Layout = WIDE) -> str:
    """``groups``: (label, first series cents, second series cents), drawn top to bottom."""
    if not groups:
        return no_data(title, layout)
    for _label, *values in groups:
        if any(not isinstance(v, int) for v in values):
            raise TypeError("bar values are integer cents")
    scale = axis_max(max(max(a, b, 0) for _l, a, b in groups))
    step = nice_step(max(max(a, b, 0) for _l, a, b in groups))
    plot_x, plot_width = layout.plot_x, layout.plot_width
    plot_height = len(groups) * layout.group_height
    axis_y = PLOT_TOP + plot_height
    height = axis_y + 34

    desc = "; ".join(f"{label}: {series[0]} {value_label(a, currency)}, "
                     f"{series[1]} {value_label(b, currency)}" for label, a, b in groups)
    parts = _svg_open(height, title, desc, layout)
    parts.append(f'<text x="0" y="20" font-size="{layout.title_size}" font-weight="600" fill="#1d2430">'
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
        tx = round(plot_x + tick * plot_width / scale, 2)
        anchor = "start" if layout.label_width == 0 and tick == 0 else "middle"
        parts.append(f'<line x1="{tx}" y1="{PLOT_TOP - 6}" x2="{tx}" y2="{axis_y}" '
                     f'stroke="{"#5b6474" if tick == 0 else "#d9dde4"}" stroke-width="1"/>')
        parts.append(f'<text x="{tx}" y="{axis_y + 18}" text-anchor="{anchor}" fill="#5b6474">'
                     f"{escape(tick_label(tick, currency))}</text>")
    parts.append(f'<line x1="{plot_x}" y1="{axis_y}" x2="{plot_x + plot_width}" y2="{axis_y}" '
                 'stroke="#5b6474" stroke-width="1"/>')

    for index, (label, *values) in enumerate(groups):
        top = PLOT_TOP + index * layout.group_height
        if layout.label_width:  # beside the bars, right-aligned in the label column
            where = (f'x="{layout.label_width}" y="{top + BAR_HEIGHT + BAR_GAP / 2}" '
                     'text-anchor="end" dominant-baseline="middle"')
        else:  # on a line of its own above them
            where = f'x="0" y="{top + 12}"'
        parts.append(f'<g class="group"><text {where} fill="#1d2430"><title>{escape(label)}</title>'
                     f"{escape(_short(label, layout))}</text>")
        top += layout.label_line
        for n, (name, colour, cents) in enumerate(zip(series, COLOURS, values)):
            y = top + n * (BAR_HEIGHT + BAR_GAP)
            length = bar_length(cents, scale, layout)
            text = value_label(cents, currency)
            parts.append(
                f'<rect x="{plot_x}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{colour}" '
                f'data-series="{escape(name)}" data-value="{cents}">'
                f"<title>{escape(label)}, {escape(name)}: {escape(text)}</title></rect>")
            parts.append(f'<text x="{round(plot_x + length + 5, 2)}" y="{y + BAR_HEIGHT / 2}" '
                         f'dominant-baseline="middle" font-size="11" fill="#1d2430">'
                         f"{escape(text)}</text>")
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
