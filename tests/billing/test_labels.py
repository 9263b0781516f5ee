"""One table of human labels for resource kinds and units (pages, PDFs and CSVs)."""
from decimal import Decimal

from portal.billing.labels import kind_label, line_kind_label, per_unit, unit_label
from portal.billing.terms import BASE_UNITS, RESOURCE_KINDS, UNIT_FACTORS
from portal.templating import money


def test_every_kind_and_unit_has_a_human_label():
    for kind in RESOURCE_KINDS:
        assert "_" not in kind_label(kind)
    for unit in list(BASE_UNITS.values()) + list(UNIT_FACTORS):
        assert "_" not in unit_label(unit) and "_" not in per_unit(unit)


def test_labels_read_as_words():
    assert kind_label("droplet_hours") == "Droplet hours"
    assert kind_label("llm_tokens") == "LLM tokens"
    assert unit_label("hour", Decimal("2")) == "hours" and unit_label("hour", 1) == "hour"
    assert per_unit("gb") == "per GB" and per_unit("1k_tokens") == "per 1,000 tokens"
    assert line_kind_label("plan_base") == "Plan"
    assert kind_label("new_kind") == "new kind"  # an unknown code still shows, as words


def test_money_names_its_currency_once():
    assert money(4546, "USD") == "US$45.46"
    assert money(5000, "AUD") == "$50.00 AUD"
    assert money(-125, "NZD") == "-NZ$1.25"
