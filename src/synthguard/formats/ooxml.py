"""DOCX/XLSX/PPTX: the label is the custom property `AIGC` in docProps/custom.xml; the zip is rewritten raw."""

from __future__ import annotations

import html
import itertools
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.label.model import AigcLabel, JsonShape, parse_label_json

MAX_FILE = 512 * 1024 * 1024
MAX_MEMBERS = 20_000
MAX_MEMBER = 256 * 1024 * 1024
MAX_TOTAL = 1024 * 1024 * 1024
MAX_RATIO = 200  # deflate tops out near 1032:1; real documents stay far below this
MAX_XML = 16 * 1024 * 1024

CUSTOM = "docProps/custom.xml"
CONTENT_TYPES = "[Content_Types].xml"
ROOT_RELS = "_rels/.rels"
FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
VT_NS = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
CUSTOM_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
CUSTOM_TYPE = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
WRITE_SHAPE = JsonShape.WRAPPED

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<4sHHHHIIH")
_MAIN_TYPE = re.compile(  # the main part of a document, template, slideshow or macro-enabled variant
    r"application/vnd\.(?:openxmlformats-officedocument\.(wordprocessingml|spreadsheetml|presentationml)"
    r"|ms-(word|excel|powerpoint))\.[\w.]+\.main\+xml"
)
_KINDS = {
    "wordprocessingml": "docx",
    "word": "docx",
    "spreadsheetml": "xlsx",
    "excel": "xlsx",
    "presentationml": "pptx",
    "powerpoint": "pptx",
}
_DIRS = {"word/": "docx", "xl/": "xlsx", "ppt/": "pptx"}
_MEDIA = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_EXTS = {
    "docx": (".docx", ".docm", ".dotx", ".dotm"),
    "xlsx": (".xlsx", ".xlsm", ".xltx", ".xltm"),
    "pptx": (".pptx", ".pptm", ".potx", ".potm", ".ppsx", ".ppsm"),
}


@dataclass(frozen=True)
class Member:
    """One zip entry as the central directory describes it, with its raw span in the file."""

    name: str
    flags: int
    method: int
    time: int
    date: int
    crc: int
    csize: int
    usize: int
    start: int  # local header
    data_start: int
    end: int  # after the data and any data descriptor
    central: bytes  # the raw central-directory record


@dataclass(frozen=True)
class Package:
    """A parsed zip: its members in central-directory order and the archive comment."""

    members: list[Member]
    comment: bytes

    def get(self, name: str) -> Member | None:
        """The member with this name, if any."""
        return next((m for m in self.members if m.name == name), None)


def parse_zip(data: bytes) -> Package:
    """Walk the central directory, checking every local header, bounds and overlap; refuse ZIP64."""
    if len(data) > MAX_FILE:
        raise InputTooLarge(f"package is larger than {MAX_FILE} bytes")
    need(data[:4] == b"PK\x03\x04", "not a zip package")
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    need(at >= 0 and at + _EOCD.size <= len(data), "truncated zip: no end-of-central-directory record")
    _sig, disk, cd_disk, _n_here, count, cd_size, cd_off, clen = _EOCD.unpack_from(data, at)
    comment = data[at + _EOCD.size : at + _EOCD.size + clen]
    need(len(comment) == clen, "truncated zip: archive comment runs past the end")
    if disk or cd_disk:
        raise UnsupportedFormat("multi-disk zip archives are not supported")
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_off == 0xFFFFFFFF or data.find(b"PK\x06\x07", at - 20, at) >= 0:
        raise UnsupportedFormat("ZIP64 packages are not supported")
    if count > MAX_MEMBERS:
        raise InputTooLarge(f"package has more than {MAX_MEMBERS} members")
    need(cd_off + cd_size <= at, "zip central directory overlaps its end record")
    members: list[Member] = []
    pos = cd_off
    total = 0
    for _ in range(count):
        need(pos + _CENTRAL.size <= at, "truncated zip central directory")
        fields = _CENTRAL.unpack_from(data, pos)
        sig, flags, method, mtime, mdate, crc, csize, usize, nlen, elen, klen = fields[:1] + fields[3:13]
        offset = fields[16]
        need(sig == b"PK\x01\x02", f"bad central-directory record at byte {pos}")
        rec_end = pos + _CENTRAL.size + nlen + elen + klen
        need(rec_end <= at, "truncated zip central directory")
        if 0xFFFFFFFF in (csize, usize, offset):
            raise UnsupportedFormat("ZIP64 packages are not supported")
        if flags & 0x41:
            raise UnsupportedFormat("encrypted zip members are not supported")
        name, data_start, end = _local(
            data, data[pos + _CENTRAL.size : pos + _CENTRAL.size + nlen], flags, csize, offset, cd_off
        )
        member = Member(
            name, flags, method, mtime, mdate, crc, csize, usize, offset, data_start, end, data[pos:rec_end]
        )
        members.append(member)
        if usize > MAX_MEMBER:
            raise InputTooLarge(f"zip member {member.name!r} inflates to more than {MAX_MEMBER} bytes")
        if usize > 1024 * 1024 and usize > MAX_RATIO * max(csize, 1):
            raise InputTooLarge(f"zip member {member.name!r} has a suspicious compression ratio (zip bomb?)")
        total += usize
        if total > MAX_TOTAL:
            raise InputTooLarge(f"package inflates to more than {MAX_TOTAL} bytes")
        pos = rec_end
    names = [m.name for m in members]
    need(len(set(names)) == len(names), "zip package holds two members with the same name")
    spans = sorted((m.start, m.end) for m in members)
    for (_s1, e1), (s2, _e2) in itertools.pairwise(spans):
        need(e1 <= s2, "zip members overlap (zip bomb?)")
    return Package(members, comment)


def _local(data: bytes, raw_name: bytes, flags: int, csize: int, offset: int, limit: int) -> tuple[str, int, int]:
    """Check a member's local header; its name, data start and end (after any data descriptor)."""
    need(offset + _LOCAL.size <= limit, f"zip local header at byte {offset} is outside the entries area")
    sig, _v, _lflags, _lmethod, _t, _d, _crc, _cs, _us, nlen, elen = _LOCAL.unpack_from(data, offset)
    need(sig == b"PK\x03\x04", f"bad zip local header at byte {offset}")
    need(
        data[offset + _LOCAL.size : offset + _LOCAL.size + nlen] == raw_name,
        "zip local header name differs from the central directory",
    )
    start = offset + _LOCAL.size + nlen + elen
    end = start + csize
    if flags & 0x08:
        end += 16 if data[end : end + 4] == b"PK\x07\x08" else 12
    need(end <= limit, f"truncated zip: member {raw_name[:60]!r} runs past the entries area")
    try:
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
    except UnicodeDecodeError:
        raise CorruptInput("zip member name is not valid UTF-8") from None
    need("\\" not in name and not name.startswith("/") and ".." not in name.split("/"), "unsafe zip member name")
    return name, start, end


def inflate(data: bytes, m: Member) -> bytes:
    """A member's uncompressed bytes, bounded by its declared size and checked against its CRC."""
    raw = data[m.data_start : m.data_start + m.csize]
    if m.method == 0:
        out = raw
    elif m.method == 8:
        d = zlib.decompressobj(-15)
        try:
            out = d.decompress(raw, m.usize + 1)
        except zlib.error as exc:
            raise CorruptInput(f"zip member {m.name!r} is corrupt: {exc}") from None
    else:
        raise UnsupportedFormat(f"zip member {m.name!r} uses compression method {m.method}")
    need(len(out) == m.usize, f"zip member {m.name!r} does not inflate to its declared size")
    need(zlib.crc32(out) == m.crc, f"zip member {m.name!r} has a bad CRC")
    return out


def _xml(data: bytes, what: str) -> Element:
    need(len(data) <= MAX_XML, f"{what} is too large")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise CorruptInput(f"{what} is not well-formed XML: {exc}") from None
    return root


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise CorruptInput(f"{what} is not UTF-8") from None


def kind_of(content_types: bytes) -> str | None:
    """docx, xlsx or pptx from the main part's content type in [Content_Types].xml."""
    m = _MAIN_TYPE.search(content_types.decode("utf-8", "replace"))
    return _KINDS[m.group(1) or m.group(2)] if m else None


def _custom_part(data: bytes, pkg: Package) -> str:
    """The custom-properties part named by the root relationships (docProps/custom.xml by default)."""
    rels = pkg.get(ROOT_RELS)
    if rels is None:
        return CUSTOM
    root = _xml(inflate(data, rels), ROOT_RELS)
    for rel in root:
        if rel.get("Type") == CUSTOM_REL:
            target = (rel.get("Target") or "").lstrip("/")
            if not re.fullmatch(r"docProps/[\w.-]+\.xml", target):
                raise UnsupportedFormat(f"custom properties part {target!r} is outside docProps/")
            return target
    return CUSTOM


def _properties(root: Element) -> Iterator[tuple[str, str, str]]:
    """Name, value and value type of every custom property."""
    for prop in root:
        if prop.tag != f"{{{CUSTOM_NS}}}property":
            continue
        value = next(iter(prop), None)
        vtype = value.tag.rsplit("}", 1)[-1] if value is not None else ""
        yield prop.get("name") or "", (value.text or "") if value is not None else "", vtype


def _aigc_name(name: str) -> bool:
    return "AIGC" in name.upper()


class OoxmlCarrier(Carrier):
    """Office Open XML packages: one `AIGC` custom property; untouched members keep their raw bytes."""

    name = "ooxml"
    formats = ("docx", "xlsx", "pptx")
    extensions = tuple(e for exts in _EXTS.values() for e in exts)
    priority = 60

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """Zip local header, then [Content_Types].xml's main part, member folders, or the name hint."""
        if not head.startswith(b"PK\x03\x04"):
            return None
        kind: str | None = None
        names: list[str] = []
        pos = 0
        while pos + _LOCAL.size <= len(head) and head[pos : pos + 4] == b"PK\x03\x04" and kind is None:
            _s, _v, flags, method, _t, _d, crc, csize, usize, nlen, elen = _LOCAL.unpack_from(head, pos)
            member = head[pos + _LOCAL.size : pos + _LOCAL.size + nlen].decode("cp437")
            names.append(member)
            start = pos + _LOCAL.size + nlen + elen
            if member == CONTENT_TYPES and start + csize <= len(head) and not flags & 0x08 and usize <= MAX_XML:
                fake = Member(member, flags, method, 0, 0, crc, csize, usize, pos, start, start + csize, b"")
                try:
                    kind = kind_of(inflate(head, fake))
                except (CorruptInput, UnsupportedFormat):
                    kind = None
            if flags & 0x08:
                break
            pos = start + csize
        if kind is None and any(n in (CONTENT_TYPES, ROOT_RELS) or n.startswith("docProps/") for n in names):
            kind = next((k for n in names for d, k in _DIRS.items() if n.startswith(d)), None)
        if kind is None and name is not None:
            kind = next((k for k, exts in _EXTS.items() if name.lower().endswith(exts)), None)
        return Sniffed(kind, Modality.DOCUMENT, _MEDIA[kind]) if kind else None

    def read(self, data: bytes) -> list[FoundLabel]:
        """Custom properties whose name contains AIGC; the one named exactly `AIGC` is standard."""
        pkg = parse_zip(data)
        types = pkg.get(CONTENT_TYPES)
        need(types is not None, "not an OOXML package: [Content_Types].xml is missing")
        part = _custom_part(data, pkg)
        member = pkg.get(part)
        if member is None:
            return []
        found: list[FoundLabel] = []
        for pname, value, vtype in _properties(_xml(inflate(data, member), part)):
            if not _aigc_name(pname):
                continue
            standard = pname == "AIGC" and vtype == "lpwstr"
            note = () if standard else (f"custom property {pname!r} of type {vtype!r} is a non-standard variant",)
            found.append(
                FoundLabel.from_parsed(
                    parse_label_json(value),
                    carrier=f"OOXML {part} property {pname!r}",
                    raw=value,
                    standard=standard,
                    notes=note,
                )
            )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Merge one `AIGC` property into the custom part, registering the part when it is new."""
        pkg = parse_zip(data)
        types_m = pkg.get(CONTENT_TYPES)
        if types_m is None:
            raise CorruptInput("not an OOXML package: [Content_Types].xml is missing")
        part = _custom_part(data, pkg)
        custom_m = pkg.get(part)
        old = _text(inflate(data, custom_m), part) if custom_m else None
        replaced: dict[str, bytes] = {part: merge_custom(old, label).encode("utf-8")}
        types = _text(inflate(data, types_m), CONTENT_TYPES)
        new_types = ensure_override(types, "/" + part)
        if new_types != types:
            replaced[CONTENT_TYPES] = new_types.encode("utf-8")
        rels_m = pkg.get(ROOT_RELS)
        rels = _text(inflate(data, rels_m), ROOT_RELS) if rels_m else None
        new_rels = ensure_relationship(rels, part)
        if new_rels != rels:
            replaced[ROOT_RELS] = new_rels.encode("utf-8")
        return rebuild(data, pkg, replaced)

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """Name and uncompressed bytes of every member except the custom part, content types and root rels."""
        pkg = parse_zip(data)
        skip = {_custom_part(data, pkg), CONTENT_TYPES, ROOT_RELS}
        for m in sorted(pkg.members, key=lambda m: m.name):
            if m.name not in skip and not m.name.endswith("/"):
                yield m.name.encode("utf-8") + b"\0" + inflate(data, m)


def merge_custom(old: str | None, label: AigcLabel) -> str:
    """custom.xml with every AIGC-named property replaced by one standard `AIGC` property, others kept."""
    if old is None or not old.strip():
        old = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Properties xmlns="{CUSTOM_NS}" xmlns:vt="{VT_NS}"></Properties>'
        )
    root = _xml(old.encode("utf-8"), CUSTOM)
    need(root.tag == f"{{{CUSTOM_NS}}}Properties", "custom properties part has the wrong root element")
    before = [(n, v) for n, v, _t in _properties(root) if not _aigc_name(n)]
    prefix = _prefix(old, "Properties")
    p = f"{prefix}:" if prefix else ""
    prop_re = re.compile(rf"<{re.escape(p)}property\b[^>]*?(?:/>|>.*?</{re.escape(p)}property\s*>)", re.S)
    kept: list[str] = []
    pids: list[int] = []

    def drop(m: re.Match[str]) -> str:
        name = re.search(r"""\bname\s*=\s*(?:"([^"]*)"|'([^']*)')""", m.group(0))
        pname = html.unescape((name.group(1) or name.group(2) or "") if name else "")
        if _aigc_name(pname):
            return ""
        kept.append(pname)
        pid = re.search(r"""\bpid\s*=\s*["']\s*(\d{1,9})\s*["']""", m.group(0))
        if pid:
            pids.append(int(pid.group(1)))
        return m.group(0)

    text = prop_re.sub(drop, old)
    vt = _vt_prefix(old)
    value = html.escape(label.to_json(WRITE_SHAPE), quote=False)
    new_prop = (
        f'<{p}property fmtid="{FMTID}" pid="{max([1, *pids]) + 1}" name="AIGC">'
        f"<{vt}:lpwstr>{value}</{vt}:lpwstr></{p}property>"
    )
    if vt not in _declared(text):
        new_prop = new_prop.replace(f"<{vt}:lpwstr>", f'<{vt}:lpwstr xmlns:{vt}="{VT_NS}">', 1)
    text = _insert_before_close(text, p + "Properties", new_prop)
    merged = _xml(text.encode("utf-8"), CUSTOM)
    after = [(n, v) for n, v, _t in _properties(merged) if not _aigc_name(n)]
    if after != before or sum(1 for n, _v, _t in _properties(merged) if _aigc_name(n)) != 1:
        raise UnsupportedFormat("custom properties part is too unusual to merge the label safely")
    return text


def _prefix(text: str, local: str) -> str:
    m = re.search(rf"<(?:([\w.-]+):)?{local}\b", text)
    return (m.group(1) or "") if m else ""


def _declared(text: str) -> set[str]:
    return set(re.findall(r"xmlns:([\w.-]+)\s*=", text))


def _vt_prefix(text: str) -> str:
    m = re.search(r'xmlns:([\w.-]+)\s*=\s*["\']' + re.escape(VT_NS) + r'["\']', text)
    return m.group(1) if m else "vt"


def _insert_before_close(text: str, tag: str, addition: str) -> str:
    closing = list(re.finditer(rf"</{re.escape(tag)}\s*>", text))
    if closing:
        at = closing[-1].start()
        return text[:at] + addition + text[at:]
    empty = re.search(rf"<{re.escape(tag)}\b([^>]*?)/>", text)
    if empty is None:
        raise CorruptInput(f"cannot find the <{tag}> element to add to")
    return text[: empty.start()] + f"<{tag}{empty.group(1)}>{addition}</{tag}>" + text[empty.end() :]


def ensure_override(types: str, part_name: str) -> str:
    """[Content_Types].xml with an Override for the custom part (unchanged when one exists)."""
    root = _xml(types.encode("utf-8"), CONTENT_TYPES)
    if any(el.get("PartName", "").lower() == part_name.lower() for el in root):
        return types
    p = _prefix(types, "Types")
    tag = f"{p}:Override" if p else "Override"
    return _insert_before_close(
        types, f"{p}:Types" if p else "Types", f'<{tag} PartName="{part_name}" ContentType="{CUSTOM_TYPE}"/>'
    )


def ensure_relationship(rels: str | None, part: str) -> str:
    """_rels/.rels with a custom-properties relationship to the part (unchanged when one exists)."""
    if rels is None:
        rels = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
            'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>'
        )
    root = _xml(rels.encode("utf-8"), ROOT_RELS)
    if any(el.get("Type") == CUSTOM_REL for el in root):
        return rels
    ids = {el.get("Id") for el in root}
    n = 1
    while f"rId{n}" in ids:
        n += 1
    p = _prefix(rels, "Relationships")
    tag = f"{p}:Relationship" if p else "Relationship"
    return _insert_before_close(
        rels,
        f"{p}:Relationships" if p else "Relationships",
        f'<{tag} Id="rId{n}" Type="{CUSTOM_REL}" Target="{part}"/>',
    )


def rebuild(data: bytes, pkg: Package, replaced: dict[str, bytes]) -> bytes:
    """A new zip: untouched members copied raw (header, compressed data, descriptor), replaced ones deflated."""
    out = bytearray()
    central = bytearray()
    pending = dict(replaced)
    names = [m.name for m in pkg.members] + [n for n in replaced if pkg.get(n) is None]
    for name in names:
        offset = len(out)
        m = pkg.get(name)
        if name in pending:
            local, record = _entry(name, pending.pop(name), m)
            out += local
        elif m is not None:
            out += data[m.start : m.end]
            record = m.central
        else:
            continue
        central += record[:42] + struct.pack("<I", offset) + record[46:]
    cd_off = len(out)
    out += central
    count = len(names)
    if count > 0xFFFF or len(out) > 0xFFFFFFFF:
        raise UnsupportedFormat("the labelled package would need ZIP64")
    out += _EOCD.pack(b"PK\x05\x06", 0, 0, count, count, len(central), cd_off, len(pkg.comment)) + pkg.comment
    return bytes(out)


def _entry(name: str, content: bytes, old: Member | None) -> tuple[bytes, bytes]:
    """Local header + deflated data, and the central record without its trailing offset field."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(content) + comp.flush()
    raw = name.encode("utf-8")
    flags = 0x800 if not raw.isascii() else 0
    mtime, mdate = (old.time, old.date) if old else (0, 0x21)  # 1980-01-01 keeps output deterministic
    crc = zlib.crc32(content)
    local = _LOCAL.pack(b"PK\x03\x04", 20, flags, 8, mtime, mdate, crc, len(body), len(content), len(raw), 0)
    record = (
        _CENTRAL.pack(
            b"PK\x01\x02", 20, 20, flags, 8, mtime, mdate, crc, len(body), len(content), len(raw), 0, 0, 0, 0, 0, 0
        )
        + raw
    )
    return local + raw + body, record


CARRIERS = (OoxmlCarrier(),)
