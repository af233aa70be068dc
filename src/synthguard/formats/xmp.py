"""The XMP packet shared by image and document carriers: find TC260 labels and merge ours in place."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from synthguard.label.model import FIELDS, AigcLabel, JsonShape, ParsedLabel, parse_label_json, parse_label_mapping

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
TC260_PREFIX = "TC260"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMPKV_NS = "http://ns.adobe.com/xap/1.0/kv/"
XPACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
MAX_PACKET_BYTES = 16 * 1024 * 1024

_FIELD_NAMES = FIELDS


class XmpError(ValueError):
    """The XMP packet is not well-formed XML."""


@dataclass(frozen=True)
class XmpLabel:
    """A label found inside an XMP packet, with how it was stored."""

    parsed: ParsedLabel
    raw: str
    how: str
    standard: bool


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _parse(packet: str) -> Element:
    if len(packet) > MAX_PACKET_BYTES:
        raise XmpError("XMP packet is too large")
    body = re.sub(r"<\?xpacket.*?\?>", "", packet, flags=re.S)
    try:
        root: Element = SafeET.fromstring(body.strip() or "<x/>", forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise XmpError(f"XMP packet is not well-formed XML: {exc}") from None
    return root


def find_labels(packet: str) -> list[XmpLabel]:
    """Every AIGC label in a packet: the TC260 property (element or attribute, any prefix) and variants."""
    root = _parse(packet)
    found: list[XmpLabel] = []
    prop = f"{{{TC260_NS}}}AIGC"
    for el in root.iter():
        if el.tag == prop:
            text = (el.text or "").strip()
            found.append(XmpLabel(parse_label_json(text), text, "XMP TC260:AIGC element", True))
        if prop in el.attrib:
            text = el.attrib[prop].strip()
            found.append(XmpLabel(parse_label_json(text), text, "XMP TC260:AIGC attribute", True))
        separate = {n: el.attrib[f"{{{TC260_NS}}}{n}"] for n in _FIELD_NAMES if f"{{{TC260_NS}}}{n}" in el.attrib}
        for child in el:
            if child.tag.startswith(f"{{{TC260_NS}}}") and child.tag != prop:
                local = child.tag.split("}", 1)[1]
                if local in _FIELD_NAMES:
                    separate[local] = (child.text or "").strip()
        if separate:
            parsed = parse_label_mapping(separate, JsonShape.ATTRIBUTES)
            raw = ",".join(f"{k}={v}" for k, v in separate.items())
            found.append(XmpLabel(parsed, raw, "XMP TC260 fields as separate properties (vendor variant)", False))
        kv = f"{{{XMPKV_NS}}}XmpKvBase64"
        for text in ([el.attrib[kv]] if kv in el.attrib else []) + ([el.text or ""] if el.tag == kv else []):
            decoded = _b64_label(text)
            if decoded is not None:
                found.append(
                    XmpLabel(
                        parse_label_json(decoded),
                        decoded,
                        "XMP xmpKV:XmpKvBase64, base64 JSON (vendor variant)",
                        False,
                    )
                )
    return found


def _b64_label(text: str) -> str | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return raw if "AIGC" in raw or "ContentProducer" in raw else None


def _prefixes(packet: str, uri: str) -> list[str]:
    return re.findall(r'xmlns:([A-Za-z_][\w.-]*)\s*=\s*["\']' + re.escape(uri) + r'["\']', packet)


def _strip_existing(packet: str) -> str:
    """Remove every existing TC260 property and base64 label copy, so exactly one remains after merging."""
    # No leading \s* / \s+ in these patterns: on hostile packets with long whitespace runs that backtracks
    # quadratically; leaving the surrounding whitespace in place is harmless.
    names = "AIGC|" + "|".join(_FIELD_NAMES)
    for prefix in _prefixes(packet, TC260_NS):
        p = re.escape(prefix)
        packet = re.sub(rf"<{p}:(?:{names})\b[^>]*?/>", "", packet)
        packet = re.sub(rf"<{p}:({names})\b[^>]*?>[^<]*</{p}:\1\s*>", "", packet)
        packet = re.sub(rf"\b{p}:(?:{names})\s*=\s*(\"[^\"]*\"|'[^']*')", "", packet)
        if not re.search(rf"[<\s]{p}:", packet):
            packet = re.sub(rf"\bxmlns:{p}\s*=\s*[\"']{re.escape(TC260_NS)}[\"']", "", packet)
    for prefix in _prefixes(packet, XMPKV_NS):
        p = re.escape(prefix)
        packet = re.sub(rf"\b{p}:XmpKvBase64\s*=\s*(\"[^\"]*\"|'[^']*')", "", packet)
        packet = re.sub(rf"<{p}:XmpKvBase64\b[^>]*?>[^<]*</{p}:XmpKvBase64\s*>", "", packet)
    return packet


def new_packet(label: AigcLabel) -> str:
    """A fresh XMP packet holding only the TC260:AIGC property."""
    return (
        f'<?xpacket begin="\ufeff" id="{XPACKET_ID}"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        f'  <rdf:Description rdf:about="" xmlns:{TC260_PREFIX}="{TC260_NS}">\n'
        f"   <{TC260_PREFIX}:AIGC>{_xml_escape(label.to_json(JsonShape.INNER))}</{TC260_PREFIX}:AIGC>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def merge_label(packet: str | None, label: AigcLabel) -> str:
    """The packet with exactly one TC260:AIGC property set to the label, every other property kept."""
    if packet is None or not packet.strip():
        return new_packet(label)
    _parse(packet)
    cleaned = _strip_existing(packet)
    description = (
        f'<rdf:Description rdf:about="" xmlns:{TC260_PREFIX}="{TC260_NS}">'
        f"<{TC260_PREFIX}:AIGC>{_xml_escape(label.to_json(JsonShape.INNER))}</{TC260_PREFIX}:AIGC>"
        "</rdf:Description>"
    )
    rdf_prefixes = _prefixes(cleaned, RDF_NS)
    close = None
    for prefix in rdf_prefixes:
        match = list(re.finditer(rf"</{re.escape(prefix)}:RDF\s*>", cleaned))
        if match:
            close = match[-1]
            description = description.replace("rdf:", f"{prefix}:")
            break
    if close is None:
        raise XmpError("XMP packet has no rdf:RDF element to add the label to")
    merged = cleaned[: close.start()] + description + "\n" + cleaned[close.start() :]
    merged = _shrink_padding(merged, len(packet))
    _parse(merged)
    return merged


def _shrink_padding(packet: str, old_len: int) -> str:
    """Use trailing xpacket padding, when there is some, to absorb the growth."""
    end = packet.rfind("<?xpacket end=")
    if end < 0:
        return packet
    start = end
    while start > 0 and packet[start - 1].isspace():  # a scan, not a regex: no backtracking on long runs
        start -= 1
    grow = len(packet) - old_len
    pad = end - start
    if grow <= 0 or pad - grow < 1:
        return packet
    return packet[: start + pad - grow] + packet[end:]
