"""The shared XMP merge: exactly one TC260 property, other properties kept, hostile packets bounded."""

from __future__ import annotations

import pytest

from synthguard.formats.xmp import XmpError, find_labels, merge_label, new_packet
from synthguard.label.model import AigcLabel

RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"


def _wrap(inner: str, tail: str = "") -> str:
    return f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}>{inner}</rdf:RDF></x:xmpmeta>{tail}'


def test_new_packet_roundtrip(label: AigcLabel) -> None:
    hits = find_labels(new_packet(label))
    assert [h.parsed.label for h in hits] == [label] and hits[0].standard


def test_merge_keeps_other_properties_and_replaces_any_prefix(label: AigcLabel) -> None:
    packet = _wrap(
        f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:AIGC="{NS}" dc:format="image/png" AIGC:Label="1" AIGC:ProduceID="old"/>'
    )
    merged = merge_label(packet, label)
    assert 'dc:format="image/png"' in merged
    assert f'xmlns:AIGC="{NS}"' not in merged  # the vendor prefix is gone, so tools group it as TC260
    assert [h.parsed.label for h in find_labels(merged)] == [label]


def test_attribute_form_is_read(label: AigcLabel) -> None:
    packet = _wrap(f'<rdf:Description rdf:about="" xmlns:T="{NS}" T:AIGC=\'{label.to_json()}\'/>')
    hits = find_labels(packet)
    assert hits[0].parsed.label == label and hits[0].how.endswith("attribute")


def test_malformed_service_header_is_accepted(label: AigcLabel) -> None:
    packet = '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"??>' + _wrap("") + '<?xpacket end="w"?>'
    assert len(find_labels(merge_label(packet, label))) == 1


def test_entities_and_dtds_are_refused(label: AigcLabel) -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' + _wrap("&b;")
    with pytest.raises(XmpError):
        find_labels(bomb)
    with pytest.raises(XmpError):
        merge_label(bomb, label)


@pytest.mark.parametrize("ws", [" ", "\n"])
def test_long_whitespace_runs_stay_linear(label: AigcLabel, ws: str) -> None:
    run = ws * 1_000_000
    packet = _wrap(
        f'<rdf:Description rdf:about="" xmlns:TC260="{NS}">{run}<TC260:AIGC>{{}}</TC260:AIGC></rdf:Description>',
        run + '<?xpacket end="w"?>',
    )
    merged = merge_label(packet, label)  # quadratic patterns would take minutes here; the suite timeout catches it
    assert merged.count("<TC260:AIGC>") == 1


def test_padding_absorbs_growth(label: AigcLabel) -> None:
    packet = _wrap("", " " * 4000 + '<?xpacket end="w"?>')
    assert len(merge_label(packet, label)) == len(packet)
