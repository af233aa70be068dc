"""Labeling through the public API: first write, refusal to clobber, propagation cases, fail-closed read-back."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from synthguard.errors import CodeInvalid, LabelInvalid, LabelWriteFailed
from synthguard.formats.png import PngCarrier, make_chunk
from synthguard.label.keys import SigningKey
from synthguard.labeling import (
    ExistingPolicy,
    PropagationCase,
    label_media,
    new_produce_id,
    propagate_media,
    write_checked,
)
from synthguard.media import Media
from synthguard.verify import Verdict, verify_media
from tests.conftest import PRODUCER, PRODUCER_2, PROPAGATOR


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_produce_ids_are_unique_and_allowed() -> None:
    ids = {new_produce_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and i.isalnum() for i in ids)


def test_label_then_verify_compliant() -> None:
    result = label_media(Media.from_bytes(_png(), "a.png"), PRODUCER)
    report = verify_media(Media.from_bytes(result.data, "a.png"))
    assert report.verdict is Verdict.COMPLIANT
    assert report.labels[0].found.label == result.label


def test_producer_code_checked_and_service_type() -> None:
    with pytest.raises(CodeInvalid):
        label_media(Media.from_bytes(_png()), "not-a-code")
    with pytest.raises(CodeInvalid):
        label_media(Media.from_bytes(_png()), PROPAGATOR)


def test_refuses_to_overwrite_another_producers_label() -> None:
    first = label_media(Media.from_bytes(_png()), PRODUCER_2).data
    with pytest.raises(LabelInvalid):
        label_media(Media.from_bytes(first), PRODUCER)
    again = label_media(Media.from_bytes(first), PRODUCER, existing=ExistingPolicy.REPLACE)
    assert again.replaced[0].content_producer == PRODUCER_2
    assert len(PngCarrier().read(again.data)) == 1


def test_propagation_case_1_keeps_producer_and_its_signature() -> None:
    key = SigningKey.generate("ed25519")
    first = label_media(Media.from_bytes(_png()), PRODUCER, "p1", signer=key).data
    result = propagate_media(Media.from_bytes(first), PROPAGATOR, "plat-1")
    assert result.case is PropagationCase.METADATA
    assert result.label is not None and result.label.label == "1"
    assert result.label.content_producer == PRODUCER and result.label.content_propagator == PROPAGATOR
    report = verify_media(Media.from_bytes(result.data or b""))
    assert report.verdict is Verdict.COMPLIANT
    assert report.labels[0].signatures[0].status.value == "valid-unknown-key"


def test_propagation_cases_2_3_and_none() -> None:
    declared = propagate_media(Media.from_bytes(_png()), PROPAGATOR, "plat-2", user_declared=True)
    assert declared.case is PropagationCase.DECLARED and declared.label is not None and declared.label.label == "2"
    detected = propagate_media(Media.from_bytes(_png()), PROPAGATOR, "plat-3", traces_detected=True)
    assert detected.label is not None and detected.label.label == "3"
    nothing = propagate_media(Media.from_bytes(_png()), PROPAGATOR, "plat-4")
    assert nothing.case is PropagationCase.NONE and nothing.data is None


def test_propagator_must_use_a_propagation_code() -> None:
    with pytest.raises(CodeInvalid):
        propagate_media(Media.from_bytes(_png()), "00119144030008867405X210001", "x", user_declared=True)


def test_vendor_variant_is_converted_on_propagation() -> None:
    data = _png()
    raw = b'{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"v1"}'
    data = data[:33] + make_chunk(b"tEXt", b"AIGC\0" + raw) + data[33:]
    assert verify_media(Media.from_bytes(data)).verdict is Verdict.NON_COMPLIANT
    result = propagate_media(Media.from_bytes(data), PROPAGATOR, "plat-5")
    assert result.notes and "non-standard" in result.notes[0]
    assert verify_media(Media.from_bytes(result.data or b"")).verdict is Verdict.COMPLIANT


def test_read_back_fails_closed_when_a_carrier_drops_the_label() -> None:
    class Lossy(PngCarrier):
        def write(self, data: bytes, label: object) -> bytes:  # type: ignore[override]
            return data

    media = Media.from_bytes(_png())
    lossy = Media(media.data, Lossy(), media.sniffed, "x.png")
    with pytest.raises(LabelWriteFailed):
        write_checked(lossy, label_media(media, PRODUCER).label)


def test_tampering_is_reported() -> None:
    key = SigningKey.generate("sm2")
    signed = label_media(Media.from_bytes(_png()), PRODUCER, "t1", signer=key).data
    img = Image.open(io.BytesIO(signed))
    img.load()
    img.putpixel((0, 0), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    relabeled = PngCarrier().write(buf.getvalue(), PngCarrier().read(signed)[0].label)  # type: ignore[arg-type]
    report = verify_media(Media.from_bytes(relabeled))
    assert report.verdict is Verdict.NON_COMPLIANT
    assert any("tampering" in r for r in report.reasons)
