"""Markdown: the label is the `AIGC:` mapping in YAML front matter, read with a small restricted parser."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from synthguard.errors import CorruptInput, InputTooLarge, UnsupportedFormat
from synthguard.formats.base import Carrier, FoundLabel, Modality, Sniffed, need
from synthguard.label.model import AigcLabel, JsonShape, ParsedLabel, parse_label_json, parse_label_mapping

MAX_BYTES = 32 * 1024 * 1024
MAX_FRONT_MATTER_LINES = 20_000
WRITE_INDENT = "    "  # what Coze writes; an existing block keeps its own indent
_BOM = "\ufeff"
_FENCE = re.compile(r"---[ \t]*(\r\n|\n|\r)")
_CLOSE = re.compile(r"---[ \t]*")
# Written so that no part can backtrack over another (long whitespace runs would make it quadratic).
_KEY = re.compile(
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'"""
    r"""|(?:[^\s#'"?:\-{}\[\],&*!|>%@`]|-[^\s:])(?:[^:#\s]|[ \t]+(?=[^:#\s]))*)"""
    r"""[ \t]*:(?:[ \t]+(?P<value>.*))?\Z"""
)
_NEWLINE = re.compile(r"\r\n|\n|\r")
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true", "True", "TRUE", "false", "False", "FALSE"}
_NUMBER = re.compile(
    r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))"
)
_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


class _Unsupported(ValueError):
    """A YAML construct the restricted parser does not read."""


@dataclass(frozen=True)
class Entry:
    """One top-level front-matter key with its line span (end exclusive) inside the front-matter lines."""

    key: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class FrontMatter:
    """Where the front matter sits: its inner lines, the offsets of its inside and of the body."""

    lines: list[str]
    inner_start: int
    inner_end: int
    body_start: int
    newline: str


def _text(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise InputTooLarge(f"Markdown file is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptInput(f"Markdown file is not UTF-8: {exc}") from None


def front_matter(text: str) -> FrontMatter | None:
    """Locate the `---` fenced YAML front matter at the start, or None; an unclosed fence is corrupt."""
    start = 1 if text.startswith(_BOM) else 0
    opening = _FENCE.match(text, start)
    if opening is None:
        return None
    pos = opening.end()
    inner_start = pos
    lines: list[str] = []
    while pos < len(text):
        nl = _next_newline(text, pos)
        line = text[pos:nl]
        if _CLOSE.fullmatch(line.rstrip("\r\n")):
            return FrontMatter(lines, inner_start, pos, nl, opening.group(1))
        lines.append(line)
        need(len(lines) <= MAX_FRONT_MATTER_LINES, "front matter has too many lines")
        pos = nl
    raise CorruptInput("front matter opened with --- is never closed (truncated file?)")


def _next_newline(text: str, pos: int) -> int:
    """Index just past the line starting at pos (its terminator included)."""
    m = _NEWLINE.search(text, pos)
    return m.end() if m else len(text)


def entries(lines: list[str]) -> list[Entry]:
    """Top-level keys of the front matter, skipping continuation lines of multi-line values."""
    out: list[Entry] = []
    current: tuple[str, int, str] | None = None
    open_quote: str | None = None
    for i, line in enumerate(lines):
        if open_quote is not None:
            if _closes_quote(line, open_quote, first=False):
                open_quote = None
            continue
        if not line.strip() or line[0] in " \t#":
            continue
        if current is not None:
            out.append(Entry(current[0], current[1], _trim(lines, current[1], i), current[2]))
            current = None
        m = _KEY.match(line.rstrip("\r\n"))
        if m is None:
            continue
        value = (m.group("value") or "").rstrip(" \t")
        current = (_unquote_key(m.group("key")), i, value)
        if value[:1] in {'"', "'"} and not _closes_quote(value, value[0], first=True):
            open_quote = value[0]
    if current is not None:
        out.append(Entry(current[0], current[1], _trim(lines, current[1], len(lines)), current[2]))
    return out


def _trim(lines: list[str], start: int, end: int) -> int:
    """Leave trailing blank and comment lines outside an entry's span."""
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _closes_quote(text: str, quote: str, *, first: bool) -> bool:
    """Whether a quoted scalar that starts (first=True) or continues in this text ends in it."""
    i = 1 if first else 0
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 2
                continue
            return True
        i += 1
    return False


def _unquote_key(key: str) -> str:
    if key[:1] in {'"', "'"}:
        try:
            return scalar(key)[0] or ""
        except _Unsupported:
            return key
    return key


def scalar(raw: str) -> tuple[str | None, str | None]:
    """A one-line YAML scalar as a string (None for null) and a problem when YAML would not read a string."""
    text = raw.strip()
    if text[:1] == '"':
        end = _quoted_end(text, '"')
        _after_scalar(text[end + 1 :])
        return _unescape_double(text[1:end]), None
    if text[:1] == "'":
        end = _quoted_end(text, "'")
        _after_scalar(text[end + 1 :])
        return text[1:end].replace("''", "'"), None
    plain = re.split(r"[ \t]#", text, maxsplit=1)[0].rstrip()
    if plain[:1] in set("[]{}&*!|>%@`") or plain.startswith(("- ", "? ")) or re.search(r":[ \t]", plain):
        raise _Unsupported(f"unsupported YAML value {plain[:40]!r}")
    if plain in _NULLS:
        return None, None
    if plain in _BOOLS:
        return plain, "is an unquoted YAML boolean, not a string"
    if _NUMBER.fullmatch(plain):
        return plain, "is an unquoted YAML number, not a string"
    return plain, None


def _quoted_end(text: str, quote: str) -> int:
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            if quote == "'" and text[i + 1 : i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    raise _Unsupported("quoted value is not closed on its line")


def _after_scalar(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise _Unsupported(f"unexpected text after a quoted value: {rest[:40]!r}")


def _unescape_double(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1 : i + 2]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in _HEX_LEN:
            digits = body[i + 2 : i + 2 + _HEX_LEN[esc]]
            if len(digits) != _HEX_LEN[esc] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _Unsupported("bad escape in a double-quoted value")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _Unsupported("bad escape in a double-quoted value")
            out.append(chr(code))
            i += 2 + len(digits)
        else:
            raise _Unsupported(f"unknown escape \\{esc} in a double-quoted value")
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_block(lines: list[str]) -> ParsedLabel:
    """The seven-key mapping under `AIGC:`; what the restricted parser cannot read is a problem."""
    values: dict[str, str | None] = {}
    problems: list[str] = []
    indent: int | None = None
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in line[: len(line) - len(line.lstrip())]:
            return ParsedLabel(None, JsonShape.YAML, ("AIGC mapping is indented with tabs",))
        if indent is None:
            indent = _indent(line)
        if _indent(line) != indent:
            return ParsedLabel(None, JsonShape.YAML, ("AIGC mapping has nested or multi-line values",))
        m = _KEY.match(line[indent:].rstrip("\r\n"))
        if m is None:
            return ParsedLabel(None, JsonShape.YAML, (f"AIGC mapping line is not `key: value`: {stripped[:40]!r}",))
        key = _unquote_key(m.group("key"))
        if key in values:
            problems.append(f"{key} appears twice")
        try:
            value, problem = scalar((m.group("value") or "").rstrip(" \t"))
        except _Unsupported as exc:
            return ParsedLabel(None, JsonShape.YAML, (f"{key}: {exc}",))
        if problem:
            problems.append(f"{key} {problem}")
        values[key] = value
    parsed = parse_label_mapping(values, JsonShape.YAML)
    return ParsedLabel(parsed.label, parsed.shape, tuple(problems) + parsed.problems, parsed.notes)


def render_block(label: AigcLabel, indent: str, newline: str) -> str:
    """The `AIGC:` mapping with every value double-quoted."""
    rows = [f"AIGC:{newline}"]
    for key, value in label.fields().items():
        rows.append(f"{indent}{key}: {json.dumps(value, ensure_ascii=True)}{newline}")
    return "".join(rows)


def _is_aigc_key(key: str) -> bool:
    return "AIGC" in key.upper()


class MarkdownCarrier(Carrier):
    """The `AIGC:` mapping in YAML front matter; other front-matter lines stay byte-identical."""

    name = "markdown"
    formats = ("markdown",)
    extensions = (".md", ".markdown")
    priority = 900

    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """UTF-8 text opening with a front-matter fence, or any UTF-8 text named *.md / *.markdown."""
        if b"\0" in head:
            return None
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return None
        named = name is not None and name.lower().endswith(self.extensions)
        if named or _FENCE.match(text, 1 if text.startswith(_BOM) else 0):
            return Sniffed("markdown", Modality.TEXT, "text/markdown")
        return None

    def read(self, data: bytes) -> list[FoundLabel]:
        """The standard `AIGC:` mapping plus any other top-level key naming AIGC (vendor variants)."""
        fm = front_matter(_text(data))
        if fm is None:
            return []
        found: list[FoundLabel] = []
        for entry in entries(fm.lines):
            if not _is_aigc_key(entry.key):
                continue
            value = entry.value.strip()
            block = fm.lines[entry.start + 1 : entry.end]
            where = f"Markdown front matter key {entry.key!r}"
            if entry.key == "AIGC" and (not value or value.startswith("#")):
                found.append(
                    FoundLabel.from_parsed(
                        parse_block(block),
                        carrier=f"{where} (YAML mapping)",
                        raw="".join(fm.lines[entry.start : entry.end]),
                        standard=True,
                    )
                )
                continue
            try:
                text = scalar(value)[0] if value[:1] not in {"{", "["} else value
            except _Unsupported as exc:
                parsed = ParsedLabel(None, None, (f"{entry.key}: {exc}",))
            else:
                parsed = parse_label_json(text or "")
            found.append(
                FoundLabel.from_parsed(
                    parsed, carrier=f"{where} holding JSON (vendor variant)", raw=value, standard=False
                )
            )
        return found

    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Replace every AIGC key with one quoted `AIGC:` mapping, or add front matter holding it."""
        text = _text(data)
        lead = _BOM if text.startswith(_BOM) else ""
        if text[len(lead) :].startswith("+++"):
            raise UnsupportedFormat("TOML (+++) front matter is not supported; convert it to YAML first")
        fm = front_matter(text)
        if fm is None:
            newline = _first_newline(text)
            block = render_block(label, WRITE_INDENT, newline)
            return (lead + "---" + newline + block + "---" + newline + text[len(lead) :]).encode("utf-8")
        hits = [e for e in entries(fm.lines) if _is_aigc_key(e.key)]
        indent = WRITE_INDENT
        for e in hits:
            if e.key == "AIGC" and e.end > e.start + 1:
                first = next((ln for ln in fm.lines[e.start + 1 : e.end] if ln.strip()), "")
                if 0 < _indent(first) <= 16:
                    indent = " " * _indent(first)
                break
        block = render_block(label, indent, fm.newline)
        lines = list(fm.lines)
        if hits:
            for e in reversed(hits[1:]):
                del lines[e.start : e.end]
            lines[hits[0].start : hits[0].end] = [block]
        else:
            lines.append(block)
        return (text[: fm.inner_start] + "".join(lines) + text[fm.inner_end :]).encode("utf-8")

    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """The body after the front matter (the whole text when there is none), as UTF-8 bytes."""
        text = _text(data)
        fm = front_matter(text)
        start = fm.body_start if fm else (1 if text.startswith(_BOM) else 0)
        yield text[start:].encode("utf-8")


def _first_newline(text: str) -> str:
    m = re.search(r"\r\n|\n|\r", text)
    return m.group(0) if m else "\n"


CARRIERS = (MarkdownCarrier(),)

__all__ = ["MarkdownCarrier", "entries", "front_matter", "parse_block", "scalar"]
