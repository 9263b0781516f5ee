import re
import xml.etree.ElementTree as ET

import pytest

from portal.billing.svg_chart import PLOT_WIDTH, axis_max, bar_chart, nice_step, tick_label

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[dict]:
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', m)) for m in re.findall(r"<rect ([^>]*)>", svg)]


def test_two_bars_per_group_with_labels_legend_and_title():
    svg = bar_chart([("acme / llm", 5000, 3720), ("globex / rag", 1200, 0), ("unattributed", 0, 930)],
                    title="Revenue and cost, April 2026", currency="AUD")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect") == 6
    assert [b["data-series"] for b in bars(svg)] == ["Revenue", "Cost"] * 3
    for text in ("acme / llm", "globex / rag", "unattributed", ">Revenue<", ">Cost<", "$50.00", "$37.20"):
        assert text in svg
    assert 'role="img"' in svg and 'aria-label="Revenue and cost, April 2026"' in svg
    assert "<title>Revenue and cost, April 2026</title>" in svg
    assert "#0072B2" in svg and "#E69F00" in svg  # blue and orange: apart for colour-blind readers
    ET.fromstring(svg)  # well-formed XML


def test_labels_are_escaped():
    svg = bar_chart([("<b>evil</b> & co", 100, 50)], title='Q"1" <x>', currency="AUD")
    assert "<b>" not in svg and "&lt;b&gt;evil&lt;/b&gt; &amp; co" in svg
    assert "&lt;x&gt;" in svg
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == 'Q"1" <x>'


def test_bar_length_is_proportional_to_value():
    groups = [("a", 123456, 50000), ("b", 7, 99999)]
    svg = bar_chart(groups, title="t", currency="AUD")
    scale = axis_max(123456)
    assert scale >= 123456
    widths = [float(b["width"]) for b in bars(svg)]
    values = [123456, 50000, 7, 99999]
    for width, value in zip(widths, values):
        assert abs(width - value * PLOT_WIDTH / scale) <= 1
    # and against each other: twice the value, twice the bar (within a pixel)
    assert abs(widths[0] / widths[3] - 123456 / 99999) < 0.01
    assert all(b["x"] == bars(svg)[0]["x"] for b in bars(svg))  # one baseline


def test_axis_ticks_are_round_and_formatted():
    assert nice_step(22475) == 10000 and axis_max(22475) == 30000
    assert nice_step(123456) == 50000 and axis_max(123456) == 150000
    assert nice_step(50) == 100 and axis_max(50) == 100  # never below one whole unit
    assert tick_label(123400, "AUD") == "$1,234"
    svg = bar_chart([("a", 22475, 18755)], title="t", currency="AUD")
    ticks = re.findall(r'text-anchor="middle" fill="#5b6474">([^<]+)<', svg)
    assert ticks == ["$0", "$100", "$200", "$300"]


def test_negative_values_clip_to_zero_and_keep_their_label():
    svg = bar_chart([("credit", 1000, -250)], title="t", currency="AUD")
    assert [float(b["width"]) for b in bars(svg)][1] == 0
    assert "-$2.50" in svg


def test_values_must_be_integer_cents():
    with pytest.raises(TypeError):
        bar_chart([("a", 10.5, 1)], title="t", currency="AUD")


def test_no_groups_is_a_small_no_data_chart():
    svg = bar_chart([], title="Revenue and cost, May 2026", currency="AUD")
    assert "<rect" not in svg and "No data for this period" in svg
    assert 'aria-label="Revenue and cost, May 2026"' in svg
    ET.fromstring(svg)


def test_the_narrow_layout_puts_labels_above_full_width_bars():
    """On a phone the chart is drawn 360 wide: each label on its own line above its two bars,
    which start at the left edge, so the page shows its text near full size."""
    from portal.billing.svg_chart import NARROW

    groups = [("acme / a deployment with a long name", 5000, 3720), ("globex / rag", 1200, 0)]
    svg = bar_chart(groups, title="t", currency="AUD", layout=NARROW)
    root = ET.fromstring(svg)
    assert root.get("viewBox").startswith("0 0 360 ") and "bar-chart-narrow" in root.get("class")
    found = bars(svg)
    assert [b["x"] for b in found] == ["0"] * 4
    scale = axis_max(5000)
    assert float(found[0]["width"]) == round(5000 * NARROW.plot_width / scale, 2)
    assert max(float(b["width"]) for b in found) <= 360 - NARROW.value_space
    labels = [g.find(f"{SVG}text") for g in root.iter(f"{SVG}g")]
    assert [t.get("x") for t in labels] == ["0", "0"]
    # Each label sits above its own first bar, and the long one is kept whole.
    for label, bar in zip(labels, found[::2]):
        assert float(label.get("y")) < float(bar["y"])
    assert "acme / a deployment with a long name</text>" in svg
