"""Streaming notices: plain chunk iterators and OpenAI-style chat-completion SSE, sync and async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from synthguard.errors import InputError, LabelInvalid
from synthguard.explicit.stream import ainject_notice, ainject_notice_sse, inject_notice, inject_notice_sse
from synthguard.explicit.text import render_notice

NOTICE = render_notice()
BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "m"}


def event(choices: list[dict[str, Any]], *, ascii_only: bool = False, **extra: Any) -> bytes:
    """One SSE event the way OpenAI writes them (compact JSON, raw UTF-8 unless ascii_only)."""
    body = json.dumps({**BASE, "choices": choices, **extra}, ensure_ascii=ascii_only, separators=(",", ":"))
    return b"data: " + body.encode() + b"\n\n"


def delta(content: str | None = None, *, index: int = 0, finish: str | None = None, **more: Any) -> dict[str, Any]:
    """One choice with a delta."""
    d: dict[str, Any] = dict(more)
    if content is not None:
        d["content"] = content
    return {"index": index, "delta": d, "logprobs": None, "finish_reason": finish}


def chat_stream(*, ascii_only: bool = False) -> list[bytes]:
    """A realistic stream: role chunk, content chunks, a keep-alive comment, finish, usage, [DONE]."""
    return [
        event([delta("", role="assistant")], ascii_only=ascii_only),
        event([delta('你好，"世界"\n')], ascii_only=ascii_only),
        b": keep-alive\n\n",
        event([delta("第二块")], ascii_only=ascii_only),
        event([delta(finish="stop")], ascii_only=ascii_only),
        event([], ascii_only=ascii_only, usage={"prompt_tokens": 3, "completion_tokens": 5}),
        b"data: [DONE]\n\n",
    ]


def rechunk(data: bytes, size: int) -> list[bytes]:
    """Split bytes at arbitrary boundaries, the way a network delivers them."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def contents(events: Iterable[bytes]) -> str:
    """The assistant text a client would assemble from the events."""
    text = ""
    for ev in events:
        payload = ev.removeprefix(b"data: ").strip()
        if not ev.startswith(b"data: ") or payload == b"[DONE]":
            continue
        for choice in json.loads(payload)["choices"]:
            text += choice["delta"].get("content") or ""
    return text


def run_async(chunks: list[bytes], **kw: Any) -> list[bytes]:
    """Drive ainject_notice_sse over an async source."""

    async def source() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    async def collect() -> list[bytes]:
        return [e async for e in ainject_notice_sse(source(), **kw)]

    return asyncio.run(collect())


@pytest.mark.parametrize("size", [1, 7, 10_000])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sse_prefix_changes_only_the_first_content_event(size: int, mode: str) -> None:
    events = chat_stream()
    chunks = rechunk(b"".join(events), size)
    out = list(inject_notice_sse(chunks)) if mode == "sync" else run_async(chunks)
    assert len(out) == len(events)
    changed = [i for i, (a, b) in enumerate(zip(events, out, strict=True)) if a != b]
    assert changed == [1]
    first = json.loads(out[1].removeprefix(b"data: "))
    assert first["choices"][0]["delta"]["content"] == NOTICE + "\n\n" + '你好，"世界"\n'
    # Only the content string grew: the bytes around it are untouched.
    assert out[1].replace(json.dumps(NOTICE + "\n\n", ensure_ascii=False)[1:-1].encode(), b"") == events[1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sse_suffix_goes_before_finish_reason(mode: str) -> None:
    events = chat_stream()
    out = list(inject_notice_sse(events, position="suffix")) if mode == "sync" else run_async(events, position="suffix")
    assert len(out) == len(events) + 1
    assert out[:4] == events[:4] and out[5:] == events[4:]
    added = json.loads(out[4].removeprefix(b"data: "))
    assert added["id"] == BASE["id"] and added["model"] == "m"
    assert added["choices"] == [{"index": 0, "delta": {"content": "\n\n" + NOTICE}, "finish_reason": None}]
    assert contents(out) == '你好，"世界"\n第二块\n\n' + NOTICE


def test_sse_suffix_appends_to_a_finish_chunk_that_has_content() -> None:
    events = [event([delta("答案")]), event([delta("。", finish="stop")]), b"data: [DONE]\n\n"]
    out = list(inject_notice_sse(events, position="suffix"))
    assert len(out) == 3 and out[0] == events[0] and out[2] == events[2]
    assert contents(out) == "答案。\n\n" + NOTICE


def test_sse_suffix_without_finish_reason_lands_before_done() -> None:
    events = [event([delta("答案")]), b"data: [DONE]\n\n"]
    out = list(inject_notice_sse(events, position="suffix"))
    assert out[0] == events[0] and out[-1] == events[-1] and len(out) == 3
    assert contents(out) == "答案\n\n" + NOTICE


def test_sse_keeps_the_streams_ascii_escaping() -> None:
    events = chat_stream(ascii_only=True)
    out = list(inject_notice_sse(events))
    assert out[1].isascii() and b"\\u3010" in out[1]
    assert contents(out).startswith(NOTICE + "\n\n")


def test_sse_each_choice_gets_its_own_notice() -> None:
    events = [event([delta("A", index=0), delta("B", index=1)]), event([delta("C", index=1)]), b"data: [DONE]\n\n"]
    out = list(inject_notice_sse(events))
    first = json.loads(out[0].removeprefix(b"data: "))
    assert [c["delta"]["content"] for c in first["choices"]] == [NOTICE + "\n\nA", NOTICE + "\n\nB"]
    assert out[1:] == events[1:]


def test_sse_passes_through_what_it_does_not_understand() -> None:
    events = [
        b"event: ping\ndata: not json\n\n",
        b'data: {"choices": [{"index": 0, "delta": {"tool_calls": []}}]}\r\n\r\n',
        b"retry: 100\n\n",
        b"data: [DONE]",
    ]
    assert list(inject_notice_sse(events)) == events


def test_sse_without_content_adds_nothing() -> None:
    events = [event([delta("", role="assistant")]), event([delta(finish="stop")]), b"data: [DONE]\n\n"]
    for position in ("prefix", "suffix"):
        assert list(inject_notice_sse(events, position=position)) == events  # type: ignore[arg-type]


def test_text_chunks_sync_and_async() -> None:
    chunks = ["", "你好", "，世界"]
    assert list(inject_notice(chunks)) == ["", NOTICE + "\n\n你好", "，世界"]
    assert list(inject_notice(chunks, position="suffix")) == [*chunks, "\n\n" + NOTICE]
    assert list(inject_notice([])) == []

    async def source() -> AsyncIterator[str]:
        for c in chunks:
            yield c

    async def collect(position: str) -> list[str]:
        return [c async for c in ainject_notice(source(), position=position, wording="人工智能生成")]  # type: ignore[arg-type]

    assert asyncio.run(collect("prefix")) == ["", "【人工智能生成】\n\n你好", "，世界"]
    assert asyncio.run(collect("suffix")) == [*chunks, "\n\n【人工智能生成】"]


def test_stream_rejects_bad_wording_and_position() -> None:
    with pytest.raises(LabelInvalid):
        list(inject_notice(["x"], wording="AI"))
    with pytest.raises(InputError):
        list(inject_notice_sse([b""], position="inline"))  # type: ignore[arg-type]
