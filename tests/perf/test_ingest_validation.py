"""Ingest's short path for well-formed events keeps every check of the full one."""
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.services.usage import _event, _plain_event

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**40, max_value=2**64),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(),
    st.just(Decimal("1E-999999999")), st.just(Decimal("1.5000000")), st.just(Decimal("-0")),
    st.just(Decimal(10) ** 15), st.just(Decimal(10) ** 15 + 1), st.just(Decimal("0.0000001")),
    st.text(max_size=5), st.sampled_from(["droplet_hours", "llm_tokens", "spaces_gb", " ", "x" * 201,
                                          "2026-04-01T10:00:00Z", "2026-04-01T10:00:00+10:00",
                                          "2026-04-01", "9999-12-31T23:59:59-05:00"]),
    st.lists(st.integers(), max_size=2),
)
good = st.fixed_dictionaries({
    "event_id": st.one_of(st.text(min_size=1, max_size=3), st.sampled_from([" ", "x" * 200, "x" * 201])),
    "deployment_id": st.one_of(st.integers(min_value=-1, max_value=2**31), st.booleans()),
    "resource_kind": st.sampled_from(["droplet_hours", "llm_tokens", "spaces_gb", "cpu"]),
    "quantity": st.one_of(st.integers(min_value=-1, max_value=10**15 + 1),
                          st.decimals(min_value=-1, max_value=10**15 + 1, allow_nan=False,
                                      allow_infinity=False), values),
    "occurred_at": st.one_of(st.sampled_from(["2026-04-01T10:00:00Z", "2026-04-01T10:00:00.5+10:00",
                                              "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"]),
                             values),
})
events = st.one_of(
    good,
    good.flatmap(lambda e: st.sampled_from(list(e)).map(lambda k: {x: v for x, v in e.items() if x != k})),
    good.map(lambda e: {**e, "extra": 1}),
    st.dictionaries(st.sampled_from(["event_id", "deployment_id", "resource_kind", "quantity",
                                     "occurred_at", "other"]), values),
    values,
)


@settings(deadline=None, max_examples=1500)
@given(raw=events)
def test_the_short_path_accepts_exactly_what_the_full_check_accepts(raw):
    row, errors = _event(0, raw)
    plain = _plain_event(raw)
    if errors:
        assert plain is None
    else:
        assert plain == row


def test_a_huge_quantity_with_many_decimals_is_a_422_not_a_500(catalog, api_as):
    from tests.factories import make_deployment, make_user

    dep = make_deployment()
    body = ('{"events": [{"event_id": "a", "deployment_id": %d, "resource_kind": "llm_tokens", '
            '"quantity": 10941685194586986024840.0345188, "occurred_at": "2026-04-01T00:00:00Z"}]}'
            % dep.id)
    r = api_as(make_user()).post("/api/v1/usage", data=body, content_type="application/json")
    assert r.status_code == 422
    # The edge refuses it before the batch is read (beyond any field's range).
    assert r.get_json()["error"]["fields"] == {"events[0].quantity": "is out of range"}


# The usage batch skips the JSON Schema validator (60 ms a 1,000-event batch) when a cheap
# check proves the body conforms; the proof must never pass a body the validator refuses.
@settings(deadline=None, max_examples=1000)
@given(body=st.one_of(
    st.fixed_dictionaries({"events": st.lists(events, max_size=4)}),
    st.fixed_dictionaries({"events": values}),
    st.fixed_dictionaries({"events": st.lists(good, min_size=1, max_size=3), "extra": values}),
    st.dictionaries(st.sampled_from(["events", "other"]), values),
))
def test_the_usage_schema_shortcut_only_passes_what_the_validator_passes(body):
    from portal.blueprints.api import schemas
    from portal.services.validation import input_errors

    rule = "/api/v1/usage"
    if schemas.conforms("POST", rule, body):
        assert schemas.problems(schemas.validator("POST", rule), body) == {}
        # …and what the edge check passes: a conforming body skips that walk too.
        assert input_errors(body) == {}


hostile = st.one_of(st.sampled_from(["a\x00b", "\ud800", "x" * 10_001, "bell\x07", "tab\there",
                                     "2026-04-01T10:00:00Z\x00"]), st.text(max_size=4))


@settings(deadline=None, max_examples=1000)
@given(event=st.fixed_dictionaries({
    "event_id": hostile, "deployment_id": st.integers(min_value=-2**70, max_value=2**70),
    "resource_kind": st.one_of(st.sampled_from(["droplet_hours", "llm_tokens"]), hostile),
    "quantity": st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                          st.decimals(allow_nan=True, allow_infinity=True)),
    "occurred_at": st.one_of(st.just("2026-04-01T10:00:00Z"), hostile)}))
def test_a_conforming_batch_never_hides_what_the_edge_refuses(event):
    """Control characters, NUL, lone surrogates, 10,001 characters, numbers beyond any
    field: the shortcut says False wherever the edge check would name something."""
    from portal.blueprints.api import schemas
    from portal.services.validation import input_errors

    body = {"events": [event, {**event, "event_id": "second"}]}
    if input_errors(body):
        assert not schemas.conforms("POST", "/api/v1/usage", body)


def test_an_event_id_with_a_control_character_is_named_at_the_edge(catalog, api_as):
    from tests.factories import make_deployment, make_user

    dep = make_deployment()
    r = api_as(make_user()).post("/api/v1/usage", json={"events": [
        {"event_id": "ok-1", "deployment_id": dep.id, "resource_kind": "llm_tokens",
         "quantity": 5, "occurred_at": "2026-04-01T10:00:00Z"},
        {"event_id": "bad\x07", "deployment_id": dep.id, "resource_kind": "llm_tokens",
         "quantity": 5, "occurred_at": "2026-04-01T11:00:00Z"}]})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"events[1].event_id": "must not contain control characters"}


def test_a_wrong_type_late_in_a_full_batch_is_still_named_by_the_schema(catalog, api_as):
    from tests.factories import hourly_events, make_deployment, make_user
    from datetime import datetime, timezone

    dep = make_deployment()
    events = hourly_events(dep.id, "llm_tokens", datetime(2026, 4, 1, tzinfo=timezone.utc), 1000)
    assert schemas_conform(events)
    events[700] = {**events[700], "quantity": "3"}
    r = api_as(make_user()).post("/api/v1/usage", json={"events": events})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"events[700].quantity": "must be a number"}
    assert r.get_json()["error"]["message"].startswith("event 700 is invalid")


def schemas_conform(events) -> bool:
    from portal.blueprints.api import schemas

    return schemas.conforms("POST", "/api/v1/usage", {"events": events})


# The edge's check of a body first walks it without paths (and checks a repeated string once);
# only a body with a problem gets the walk that names it. The two must agree on every body.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
              st.decimals(allow_nan=True, allow_infinity=True),
              st.text(max_size=4), st.sampled_from(["ok", "a\x00b", "\ud800", "x" * 201, "x" * 10_001,
                                                    "tab\there", "bell\x07"])),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=3), st.sampled_from(["k" * 201, "k\x01", "ok"])),
                        children, max_size=4)),
    max_leaves=20,
)


@settings(deadline=None, max_examples=1500)
@given(value=json_values)
def test_the_clean_walk_agrees_with_the_naming_walk(value):
    from portal.services import validation

    assert validation._all_clean(value) == (validation._named_errors(value) == {})
