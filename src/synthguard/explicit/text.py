"""Explicit labels for text (GB 45438 §5): a visible AI-generation notice at the start, end or after paragraph one."""

from __future__ import annotations

import html
import re
from typing import Literal, get_args

from synthguard.errors import InputError
from synthguard.explicit.wording import Wording, resolve

Position = Literal["prefix", "suffix", "inline"]
TextFormat = Literal["plain", "markdown", "html"]

POSITIONS: tuple[str, ...] = get_args(Position)
FORMATS: tuple[str, ...] = get_args(TextFormat)

NOTICE_CLASS = "aigc-notice"
"""The CSS class every HTML notice carries (detection and stylesheets find it by this)."""
NOTICE_ATTR = "data-aigc-notice"
"""The data attribute every HTML notice carries; its value is the position it was placed at."""
BRACKETS = ("【", "】")
"""The plain-text notice is the wording in these brackets, alone on its own line."""

_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~!])")


def notice_wording(wording: Wording | str | None = None) -> str:
    """The wording to show: the given one once validated (LabelInvalid if it lacks an element), else "AI生成"."""
    return resolve(wording).text


def render_notice(
    wording: Wording | str | None = None,
    *,
    fmt: TextFormat = "plain",
    position: Position = "prefix",
) -> str:
    """The notice alone, as one line of plain text, one Markdown block or one HTML element."""
    _check_choice("format", fmt, FORMATS)
    _check_choice("position", position, POSITIONS)
    words = notice_wording(wording)
    if fmt == "plain":
        return f"{BRACKETS[0]}{words}{BRACKETS[1]}"
    if fmt == "markdown":
        # A blockquote stands apart from whatever Markdown the model wrote around it.
        escaped = _MD_SPECIAL.sub(r"\\\1", words)
        return f"> {BRACKETS[0]}{escaped}{BRACKETS[1]}"
    return (
        f'<p class="{NOTICE_CLASS}" {NOTICE_ATTR}="{position}" role="note" '
        f'aria-label="{html.escape(words, quote=True)}">{html.escape(words, quote=False)}</p>'
    )


def label_text(
    text: str, *, position: Position = "prefix", wording: Wording | str | None = None, fmt: TextFormat = "plain"
) -> str:
    """Return `text` with a visible notice at the start (prefix), end (suffix) or after its first paragraph (inline).

    plain and markdown keep `text` as it is and add the notice as its own paragraph; html treats `text` as plain
    text, escapes it and returns an HTML fragment of <p> elements. Empty or blank text raises InputError.
    """
    _check_choice("format", fmt, FORMATS)
    _check_choice("position", position, POSITIONS)
    if not text.strip():
        raise InputError("the text is empty: there is nothing to label (label the interface instead)")
    notice = render_notice(wording, fmt=fmt, position=position)
    if fmt == "html":
        return _label_html(text, notice, position)
    nl = "\r\n" if "\r\n" in text else "\n"
    head_end = _front_matter_end(text) if fmt == "markdown" else 0
    if position == "prefix":
        return text[:head_end] + notice + nl + nl + text[head_end:]
    if position == "inline":
        cut = _first_paragraph_end(text, head_end, markdown=fmt == "markdown")
        if cut is not None:
            return text[:cut] + nl + nl + notice + text[cut:]
    body = text.rstrip("\r\n")
    return body + nl + nl + notice + text[len(body) :]


def paragraphs(text: str) -> list[str]:
    """Split plain text into paragraphs at blank lines, dropping empty ones."""
    return [p.strip("\r\n") for p in _BLANK_LINE.split(text) if p.strip()]


def _label_html(text: str, notice: str, position: Position) -> str:
    """Escape plain text into <p> elements and place the notice element among them."""
    blocks = [
        "<p>" + "<br>\n".join(html.escape(line, quote=False) for line in re.split(r"\r?\n", p)) + "</p>"
        for p in paragraphs(text)
    ]
    at = {"prefix": 0, "inline": 1, "suffix": len(blocks)}[position]
    blocks.insert(at, notice)
    return "\n".join(blocks) + "\n"


def _front_matter_end(text: str) -> int:
    """Where a Markdown document's YAML front matter ends (0 without one); the notice never goes inside it."""
    match = _FRONT_MATTER.match(text)
    return match.end() if match else 0


def _first_paragraph_end(text: str, start: int, *, markdown: bool) -> int | None:
    """Offset of the blank line that ends the first paragraph after `start`, outside Markdown code fences."""
    fences = _fenced_spans(text) if markdown else []
    seen_content = False
    for match in _BLANK_LINE.finditer(text, start):
        if any(a <= match.start() < b for a, b in fences):
            continue
        if text[start : match.start()].strip():
            seen_content = True
        if seen_content:
            return match.start()
    return None


def _fenced_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of fenced code blocks (an unclosed fence runs to the end)."""
    spans: list[tuple[int, int]] = []
    marks = list(_FENCE.finditer(text))
    i = 0
    while i < len(marks):
        opening = marks[i]
        closing = next((m for m in marks[i + 1 :] if m.group(1) == opening.group(1)), None)
        if closing is None:
            spans.append((opening.start(), len(text)))
            break
        spans.append((opening.start(), closing.end()))
        i = marks.index(closing) + 1
    return spans


def _check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise InputError naming the allowed values when `value` is not one of them."""
    if value not in allowed:
        raise InputError(f"unknown {what} {value!r}: use one of {', '.join(allowed)}")
