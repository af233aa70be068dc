"""The label model: validation, first-write rule, both JSON shapes, lenient parsing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthguard.errors import LabelInvalid
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json
from tests.conftest import PRODUCER

ALLOWED = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) != "\\"]), min_size=1, max_size=40)


def test_first_write_copies_producer_fields() -> None:
    lab = AigcLabel.first_write(PRODUCER, "id-1")
    assert lab.content_propagator == PRODUCER and lab.propagate_id == "id-1"
    assert lab.label == "1"


def test_json_shapes_are_compact_and_ordered() -> None:
    lab = AigcLabel.first_write(PRODUCER, "id-1")
    wrapped = lab.to_json(JsonShape.WRAPPED)
    assert wrapped.startswith('{"AIGC":{"Label":"1","ContentProducer":')
    assert " " not in wrapped
    assert list(json.loads(lab.to_json(JsonShape.INNER))) == [
        "Label",
        "ContentProducer",
        "ProduceID",
        "ReservedCode1",
        "ContentPropagator",
        "PropagateID",
        "ReservedCode2",
    ]


@pytest.mark.parametrize("bad", ["has space", "back\\slash", "中文", "tab\t", ""])
def test_disallowed_produce_ids_are_rejected(bad: str) -> None:
    with pytest.raises(LabelInvalid):
        AigcLabel.first_write(PRODUCER, bad)


def test_quote_is_allowed_and_escaped() -> None:
    lab = AigcLabel.first_write(PRODUCER, 'a"b')
    assert '\\"' in lab.to_json()
    assert parse_label_json(lab.to_json()).label == lab


@pytest.mark.parametrize("label", ["0", "4", "", "1 "])
def test_label_value_must_be_1_2_3(label: str) -> None:
    assert AigcLabel(label, PRODUCER, "x", "", PRODUCER, "x", "").problems()


def test_all_zero_produce_id_is_a_problem() -> None:
    assert any("zeros" in p for p in AigcLabel("1", PRODUCER, "0000", "", "", "", "").problems())


def test_strict_codes_reject_bare_product_names() -> None:
    with pytest.raises(LabelInvalid):
        AigcLabel.first_write("doubao", "x")


def test_platform_label_2_needs_no_producer() -> None:
    lab = AigcLabel("2", "", "", "", "00119144030008867405X220001", "p-1", "")
    assert lab.problems() == []
    assert AigcLabel("1", "", "", "", "00119144030008867405X220001", "p-1", "").problems()


@given(ALLOWED, ALLOWED, st.sampled_from(["1", "2", "3"]), st.sampled_from(list(JsonShape)[:2]))
def test_roundtrip_both_shapes(pid: str, prop_id: str, value: str, shape: JsonShape) -> None:
    lab = AigcLabel(value, PRODUCER, pid, "", PRODUCER, prop_id, "")
    parsed = parse_label_json(lab.to_json(shape))
    assert parsed.label == lab and parsed.shape == shape and parsed.problems == tuple(lab.problems())


@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    parse_label_json(text)


def test_parse_reports_missing_and_numeric_fields() -> None:
    parsed = parse_label_json('{"AIGC":{"Label":1,"ContentProducer":"x"}}')
    assert parsed.shape is JsonShape.WRAPPED
    assert any("ProduceID is missing" in p for p in parsed.problems)
    assert any("number" in p for p in parsed.problems)


def test_parse_rejects_non_json_and_non_objects() -> None:
    assert parse_label_json("{nope").label is None
    assert parse_label_json("[1,2]").label is None
