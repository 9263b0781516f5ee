"""Hostile input for property tests: JSON bodies, query strings and form fields built to
reach the database driver, ``Decimal`` and the job lookup with values they choke on."""
import json
from urllib.parse import quote

from hypothesis import strategies as st

HOSTILE_TEXT = [
    "\x00", "a\x00b", "studio\x00", "\ud800", "x\udfff", "\x1b[31m", "\x07", "\u202e", "\ufeff",
    "\n", " ", "", "x" * 5000, "é" * 300, "' OR 1=1 --", "%00", "../../etc/passwd",
    "0000-01-01", "9999-12-31", "2026-02-30", "2026-04-01T00:00:00Z", "0001-01-01T00:00:00-10:00",
    "2026-13", "0000-00", "9999-12", "2026-04", "-2026-04", "2026-4", "٢٠٢٦-٠٤", "2026-04\x00",
    "studio", "storage_50gb", "llm_tokens", "spaces_gb", "acme", "syd1", "active", "suspended",
    "decommissioned", "issued", "paid", "void", "open", "1", "-1", "1e400", "NaN", "²",
]
HOSTILE_NUMBERS = [0, 1, -1, 2**31, 2**31 - 1, 2**63, 2**63 - 1, -(2**63), 10**30, 10**15,
                   True, False, 1e308, -0.0, 5e-324, 0.5, 100.000001]
# Literals Python cannot write as floats: put in the JSON text as they are.
RAW_NUMBERS = ["1e-400", "1e400", "-0", "1e-999999999", "1" * 400, "0.0000001", "-1e308"]
_RAW = "\x00raw:"

FIELD_NAMES = ["to", "name", "region", "tenant_id", "tenant", "plan_code", "addons",
               "starts_on", "projected_usage", "events", "period", "force", "event_id",
               "deployment_id", "resource_kind", "quantity", "occurred_at", "llm_tokens",
               "spaces_gb", "droplet_hours"]
QUERY_NAMES = ["page", "per_page", "period", "tenant", "status", "vanished", "view", "next",
               "plan_code", "addons", "starts_on", "usage_llm_tokens", "usage_spaces_gb",
               "usage_droplet_hours"]

# What the database driver refuses outright: drawn often, so a short run finds it.
NASTY_TEXT = ["\x00", "a\x00b", "\ud800", "x\udfff", "\x1b", "x" * 5000]
nasty_text = st.sampled_from(NASTY_TEXT)
hostile_text = st.one_of(nasty_text, st.sampled_from(HOSTILE_TEXT), st.text(max_size=30))
leaves = st.one_of(
    nasty_text, nasty_text, st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_NUMBERS),
    st.none(), st.booleans(), st.integers(), st.text(max_size=30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(RAW_NUMBERS).map(lambda raw: _RAW + raw),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)),
                        children, max_size=4)),
    max_leaves=12,
)


def dumps(value) -> str:
    """JSON text, with raw number literals put in as they are; surrogates kept escaped."""
    text = json.dumps(value)
    for raw in RAW_NUMBERS:
        text = text.replace(json.dumps(_RAW + raw), raw)
    return text


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated(draw, template):
    """``template`` with one or two of its values (or itself) swapped for hostile ones."""
    body = template
    for _ in range(draw(st.integers(1, 2))):
        paths = list(_paths(body))
        path = draw(st.sampled_from(paths))
        body = _replace(body, path, draw(st.one_of(leaves, leaves, leaves, json_values)))
    return body


def bodies(template):
    """A JSON body: mostly a valid one with hostile values in it, sometimes anything at all."""
    return st.one_of(
        mutated(template), mutated(template),
        st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6),
        json_values,
    ).map(dumps)


def encode(value) -> str:
    """A URL component as a client that sends any bytes would (surrogates as raw bytes)."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


query_values = st.one_of(hostile_text, st.sampled_from(HOSTILE_NUMBERS).map(str),
                         st.integers().map(str))
query_strings = st.lists(
    st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=5)), query_values),
    max_size=4,
).map(lambda pairs: "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs))
