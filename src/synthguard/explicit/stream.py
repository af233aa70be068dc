"""Put the explicit notice into a streamed chat response: plain text chunks or OpenAI-style chat-completion SSE.

Prefix mode adds the notice to the first chunk with content; suffix mode adds it after the last content (before the
chunk that carries finish_reason in SSE). Everything else passes through byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Literal

from synthguard.errors import InputError
from synthguard.explicit.text import TextFormat, render_notice
from synthguard.explicit.wording import Wording

StreamPosition = Literal["prefix", "suffix"]

SEPARATOR = "\n\n"
"""Between the notice and the model's text, so the notice stays a line of its own."""

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = ("true", "false", "null")
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)


class TextNoticeInjector:
    """Sans-IO: feed text chunks, get them back with the notice on the first content (prefix) or at close (suffix)."""

    def __init__(
        self, *, position: StreamPosition = "prefix", wording: Wording | str | None = None, fmt: TextFormat = "plain"
    ) -> None:
        _check_position(position)
        self.position = position
        self.notice = render_notice(wording, fmt=fmt, position=position)
        self.started = False
        self.done = False

    def feed(self, chunk: str) -> str:
        """The chunk to emit in place of `chunk`."""
        if chunk and not self.started:
            self.started = True
            if self.position == "prefix":
                self.done = True
                return self.notice + SEPARATOR + chunk
        return chunk

    def close(self) -> str:
        """What to emit after the last chunk ("" unless suffix mode saw content)."""
        if self.position == "suffix" and self.started and not self.done:
            self.done = True
            return SEPARATOR + self.notice
        return ""


def inject_notice(
    chunks: Iterable[str],
    *,
    position: StreamPosition = "prefix",
    wording: Wording | str | None = None,
    fmt: TextFormat = "plain",
) -> Iterator[str]:
    """Yield `chunks` with the notice added to the first non-empty chunk (prefix) or after the last (suffix)."""
    injector = TextNoticeInjector(position=position, wording=wording, fmt=fmt)
    for chunk in chunks:
        yield injector.feed(chunk)
    tail = injector.close()
    if tail:
        yield tail


async def ainject_notice(
    chunks: AsyncIterable[str],
    *,
    position: StreamPosition = "prefix",
    wording: Wording | str | None = None,
    fmt: TextFormat = "plain",
) -> AsyncIterator[str]:
    """Async form of inject_notice."""
    injector = TextNoticeInjector(position=position, wording=wording, fmt=fmt)
    async for chunk in chunks:
        yield injector.feed(chunk)
    tail = injector.close()
    if tail:
        yield tail


class SseNoticeInjector:
    """Sans-IO: feed raw bytes of an OpenAI-style chat-completion SSE stream, get complete events back.

    Output is re-chunked at event boundaries; the concatenated output equals the input except the one event per
    choice whose delta.content gains the notice (prefix), or one added event / content per choice (suffix).
    """

    def __init__(
        self, *, position: StreamPosition = "prefix", wording: Wording | str | None = None, fmt: TextFormat = "plain"
    ) -> None:
        _check_position(position)
        self.position = position
        self.notice = render_notice(wording, fmt=fmt, position=position)
        self._buffer = b""
        self._noticed: set[int] = set()
        self._content: set[int] = set()
        self._template: dict[str, Any] | None = None
        self._ascii: bool | None = None
        self._end = b"\n\n"

    def feed(self, data: bytes) -> list[bytes]:
        """Complete events (each with its blank-line terminator) made available by `data`."""
        self._buffer += data
        out: list[bytes] = []
        while match := _EVENT_END.search(self._buffer):
            event, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            self._end = match.group(0)
            out.extend(self._event(event))
        return out

    def close(self) -> list[bytes]:
        """The rest at end of stream: an unterminated last event, and suffix notices still owed."""
        out = self._event(self._buffer) if self._buffer else []
        self._buffer = b""
        return out + self._owed_suffixes()

    def _event(self, event: bytes) -> list[bytes]:
        """One event, possibly edited, possibly preceded by added events."""
        found = _data_payload(event)
        if found is None:
            return [event]
        start, end = found
        payload = event[start:end]
        if payload.strip() == b"[DONE]":
            return [*self._owed_suffixes(), event]
        try:
            chunk = json.loads(payload)
        except ValueError:
            return [event]
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            return [event]
        self._template = chunk
        if not payload.isascii():
            self._ascii = False
        elif b"\\u" in payload and self._ascii is None:
            self._ascii = True
        text = payload.decode("utf-8")
        before: list[bytes] = []
        # Edit right to left so earlier spans stay valid.
        edits: list[tuple[int, str]] = []
        for k, choice in enumerate(chunk["choices"]):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", k)
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            has_content = isinstance(content, str) and content != ""
            if has_content:
                self._content.add(index)
            if index in self._noticed:
                continue
            if self.position == "prefix" and has_content:
                span = _string_span(text, ("choices", k, "delta", "content"))
                if span is not None:
                    edits.append((span[0] + 1, self.notice + SEPARATOR))
                    self._noticed.add(index)
            elif self.position == "suffix" and choice.get("finish_reason") is not None and index in self._content:
                span = _string_span(text, ("choices", k, "delta", "content")) if has_content else None
                if span is not None:
                    edits.append((span[1] - 1, SEPARATOR + self.notice))
                else:
                    before.append(self._added_event(index))
                self._noticed.add(index)
        for at, insert in sorted(edits, reverse=True):
            text = text[:at] + _json_inner(insert, self._ascii is True) + text[at:]
        return [*before, event[:start] + text.encode("utf-8") + event[end:]]

    def _owed_suffixes(self) -> list[bytes]:
        """Added events for choices that had content but whose finish_reason never came."""
        if self.position != "suffix":
            return []
        owed = sorted(self._content - self._noticed)
        self._noticed.update(owed)
        return [self._added_event(index) for index in owed]

    def _added_event(self, index: int) -> bytes:
        """A new chunk carrying only the suffix notice for one choice, shaped like the stream's own chunks."""
        template = self._template or {"object": "chat.completion.chunk"}
        chunk = {key: value for key, value in template.items() if key != "usage"}
        chunk["choices"] = [{"index": index, "delta": {"content": SEPARATOR + self.notice}, "finish_reason": None}]
        body = json.dumps(chunk, ensure_ascii=self._ascii is True, separators=(",", ":"))
        return b"data: " + body.encode("utf-8") + self._end


def inject_notice_sse(
    stream: Iterable[bytes],
    *,
    position: StreamPosition = "prefix",
    wording: Wording | str | None = None,
    fmt: TextFormat = "plain",
) -> Iterator[bytes]:
    """Yield the events of a chat-completion SSE byte stream with the notice added (see SseNoticeInjector)."""
    injector = SseNoticeInjector(position=position, wording=wording, fmt=fmt)
    for data in stream:
        yield from injector.feed(data)
    yield from injector.close()


async def ainject_notice_sse(
    stream: AsyncIterable[bytes],
    *,
    position: StreamPosition = "prefix",
    wording: Wording | str | None = None,
    fmt: TextFormat = "plain",
) -> AsyncIterator[bytes]:
    """Async form of inject_notice_sse."""
    injector = SseNoticeInjector(position=position, wording=wording, fmt=fmt)
    async for data in stream:
        for event in injector.feed(data):
            yield event
    for event in injector.close():
        yield event


def _check_position(position: str) -> None:
    """Streams take prefix or suffix only (inline needs the whole text)."""
    if position not in ("prefix", "suffix"):
        raise InputError(f"unknown stream position {position!r}: use prefix or suffix")


def _json_inner(text: str, ascii_only: bool) -> str:
    """`text` encoded as the inside of a JSON string literal, in the stream's own escaping style."""
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def _data_payload(event: bytes) -> tuple[int, int] | None:
    """Byte span of the single `data:` field's value in an event; None without exactly one data line."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(event):
        raw = line.group(0).rstrip(b"\r\n")
        if raw.startswith(b"data:"):
            start = line.start() + 5 + (1 if raw[5:6] == b" " else 0)
            spans.append((start, line.start() + len(raw)))
    return spans[0] if len(spans) == 1 else None


def _string_span(doc: str, path: tuple[str | int, ...]) -> tuple[int, int] | None:
    """Span (quotes included) of the JSON string at `path` in `doc`, found without re-serialising anything."""
    found: list[tuple[int, int]] = []
    _walk(doc, _skip_ws(doc, 0), path, found)
    return found[0] if found else None


def _walk(doc: str, i: int, path: tuple[str | int, ...] | None, found: list[tuple[int, int]]) -> int:
    """Scan the value at `i`, recording the string at `path` (None: not on the path); return the index after it."""
    ch = doc[i]
    if ch == '"':
        end = _string_end(doc, i)
        if path == ():
            found.append((i, end))
        return end
    if ch == "{":
        i = _skip_ws(doc, i + 1)
        if doc[i] == "}":
            return i + 1
        while True:
            end = _string_end(doc, i)
            key, i = json.loads(doc[i:end]), end
            i = _skip_ws(doc, _skip_ws(doc, i) + 1)
            sub = path[1:] if path and path[0] == key else None
            i = _skip_ws(doc, _walk(doc, i, sub, found))
            if doc[i] == "}":
                return i + 1
            i = _skip_ws(doc, i + 1)
    if ch == "[":
        i = _skip_ws(doc, i + 1)
        if doc[i] == "]":
            return i + 1
        n = 0
        while True:
            sub = path[1:] if path and path[0] == n else None
            i = _skip_ws(doc, _walk(doc, i, sub, found))
            if doc[i] == "]":
                return i + 1
            i, n = _skip_ws(doc, i + 1), n + 1
    for literal in _LITERALS:
        if doc.startswith(literal, i):
            return i + len(literal)
    number = _NUMBER.match(doc, i)
    if number is None:
        raise ValueError(f"not JSON at {i}")
    return number.end()


def _string_end(doc: str, i: int) -> int:
    """The index just after the JSON string literal whose opening quote is at `i`."""
    match = _STRING_REST.match(doc, i + 1)
    if match is None:
        raise ValueError(f"unterminated JSON string at {i}")
    return match.end()


def _skip_ws(doc: str, i: int) -> int:
    """The index of the next non-whitespace character."""
    while i < len(doc) and doc[i] in " \t\r\n":
        i += 1
    return i
