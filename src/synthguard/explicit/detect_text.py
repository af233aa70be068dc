"""Find explicit AI-generation notices in plain text, Markdown or HTML, and report where they stand.

The rule (documented in docs/explicit-labels-text.md): a notice is a standalone, label-like element, never a phrase
inside prose. In text and Markdown it is a whole line that, once Markdown decoration, brackets and a closing full
stop are stripped, is at most MAX_NOTICE_CHARS long, passes the wording rule (AI element and generation element) and
either is a known wording or reads as a label ("本内容由AI生成", "人工智能生成合成", "注：AI生成" …). In HTML it is
also any element marked class="aigc-notice" / data-aigc-notice, and any <aigc-notice> web component.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any, Literal

from synthguard.errors import InputError
from synthguard.explicit.text import NOTICE_ATTR, NOTICE_CLASS, _front_matter_end
from synthguard.explicit.wording import Wording, wording_problems

DetectFormat = Literal["auto", "plain", "markdown", "html"]

MAX_NOTICE_CHARS = 40
"""A longer line is prose, whatever it says."""

_AI = r"(?:人工智能|AI)"
_GEN = r"(?:生成合成|生成|合成)"
_ZH_LABEL = (
    rf"(?:(?:注|提示|说明|声明|标识)[：:]\s*)?"
    rf"(?:(?:本|此|该|以上|以下|上述)(?:内容|文本|文章|回答|回复|答案|结果|文)?)?"
    rf"(?:(?:由|系|为|经|使用|通过)\s*)?"
    rf"{_AI}\s*(?:技术|模型|大模型|工具)?(?:辅助)?{_GEN}(?:的)?(?:内容|文本|作品)?"
    rf"(?:[，,]\s*仅供参考)?"
)
_EN_LABEL = (
    r"(?:(?:note|notice|label):\s*)?(?:(?:this|the)\s+(?:content|text|response|answer|reply)\s+(?:is|was)\s+)?"
    r"(?:AI[- ](?:generated|synthesi[sz]ed)|(?:generated|synthesi[sz]ed)\s+(?:by|with|using)\s+"
    r"(?:AI|artificial\s+intelligence))(?:\s+(?:content|text))?"
)
_LABEL_GRAMMAR = re.compile(rf"{_ZH_LABEL}|{_EN_LABEL}|{_ZH_LABEL}\s*[/|｜·]?\s*{_EN_LABEL}", re.IGNORECASE)
_PAIRS = {"【": "】", "[": "]", "（": "）", "(": ")", "〔": "〕", "「": "」", "《": "》", "<": ">", "〖": "〗"}
_DECORATION = re.compile(r"^(?:>\s*)+|^#{1,6}\s+|^[-*+]\s+")
_EMPHASIS = re.compile(r"^(\*\*|__|\*|_|`)(.+)\1$")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]<>#|~!(){}.+-])")
_HTML_SNIFF = re.compile(r"<(?:p|div|span|br|aigc-notice|html|body|aside|section|article)\b[^>]*>", re.IGNORECASE)
_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
        "aigc-notice",
    ]
)
_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title"})


def detect_text(text: str, *, fmt: DetectFormat = "auto", wordings: Iterable[str] = ()) -> dict[str, Any]:
    """Find explicit notices in `text`; returns a JSON-serialisable dict (found, format, notices, problems).

    `wordings` adds configured wordings to recognise verbatim besides the label-like forms.
    """
    if fmt not in ("auto", "plain", "markdown", "html"):
        raise InputError(f"unknown format {fmt!r}: use one of auto, plain, markdown, html")
    if fmt == "auto":
        fmt = "html" if _HTML_SNIFF.search(text) else "markdown" if _front_matter_end(text) else "plain"
    known = {Wording.SHORT, Wording.LONG, Wording.ENGLISH, Wording.BILINGUAL, *wordings}
    marked: dict[int, str] = {}
    if fmt == "html":
        lines, marked = _html_lines(text)
    else:
        skip = _front_matter_end(text) if fmt == "markdown" else 0
        lines = _text_lines(text[skip:], first=1 + len(re.findall(r"\r\n|\r|\n", text[:skip])))
    notices: list[dict[str, Any]] = []
    problems: list[str] = []
    filled = [i for i, (_, line) in enumerate(lines) if line.strip()]
    for i in filled:
        number, line = lines[i]
        where = "start" if i == filled[0] else "end" if i == filled[-1] else "middle"
        words, bracketed = _unwrap(line)
        form = marked.get(i)
        problem = _problem(words)
        if form is not None:
            if problem is None:
                notices.append(_notice(words, where, number, form))
            else:
                problems.append(f"line {number}: the {form} notice {words!r} does not comply: {problem}")
        elif problem is None and len(words) <= MAX_NOTICE_CHARS and (words in known or _LABEL_GRAMMAR.fullmatch(words)):
            notices.append(_notice(words, where, number, "line"))
        elif bracketed and problem is not None and len(words) <= 12 and re.search(_AI + "|" + _GEN, words, re.I):
            problems.append(f"line {number}: {line.strip()!r} looks like a notice but does not comply: {problem}")
    return {"found": bool(notices), "format": fmt, "notices": notices, "problems": problems}


def has_notice(text: str, *, fmt: DetectFormat = "auto") -> bool:
    """Whether `text` carries at least one compliant explicit notice."""
    return bool(detect_text(text, fmt=fmt)["found"])


def _notice(words: str, where: str, line: int, form: str) -> dict[str, Any]:
    """One found notice as a plain dict."""
    return {"wording": words, "position": where, "line": line, "form": form}


def _problem(words: str) -> str | None:
    """Why `words` fails the wording rule, or None when it complies."""
    problems = wording_problems(words)
    return "; ".join(problems) if problems else None


def _text_lines(text: str, first: int = 1) -> list[tuple[int, str]]:
    """Numbered lines of plain text or Markdown, the first numbered `first`."""
    return list(enumerate(re.split(r"\r\n|\r|\n", text), start=first))


def _unwrap(line: str) -> tuple[str, bool]:
    """Strip Markdown decoration, emphasis, brackets and a closing full stop; say whether brackets were removed."""
    words = _MD_ESCAPE.sub(r"\1", _DECORATION.sub("", line.strip())).strip()
    bracketed = False
    changed = True
    while changed and words:
        changed = False
        emphasis = _EMPHASIS.match(words)
        if emphasis:
            words, changed = emphasis.group(2).strip(), True
        stripped = words.rstrip("。.！!")
        if stripped != words:
            words, changed = stripped.strip(), True
        if len(words) >= 2 and _PAIRS.get(words[0]) == words[-1]:
            words, changed, bracketed = words[1:-1].strip(), True, True
    return words, bracketed


class _Blocks(HTMLParser):
    """Collect the text of block-level HTML elements as lines, and which lines are marked notices."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.marked: dict[int, str] = {}
        self._skip = 0
        self._open: list[tuple[str, str | None]] = []

    def _break(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in _SKIP:
            self._skip += 1
            return
        if tag in _BLOCKS or tag == "br":
            self._break()
        form: str | None = None
        if tag == "aigc-notice":
            form = "web-component"
            # The component shows its wording attribute (or its default); the light-DOM text is only the fallback.
            self._break()
            self.marked[len(self.lines) - 1] = form
            self.lines[-1] = values.get("wording") or Wording.SHORT
            self._break()
            self._skip += 1
        elif NOTICE_CLASS in (values.get("class") or "").split() or NOTICE_ATTR in values:
            form = "marked-element"
            self._break()
        if tag not in ("br", "aigc-notice") and tag not in _VOID:
            self._open.append((tag, form))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP or tag == "aigc-notice":
            self._skip = max(0, self._skip - 1)
            return
        while self._open:
            name, form = self._open.pop()
            if form is not None and self.lines[-1].strip():
                self.marked[len(self.lines) - 1] = form
                self._break()
            if name == tag:
                break
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.lines[-1] += re.sub(r"\s+", " ", data)


_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]
)


def _html_lines(text: str) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """Block lines of an HTML document or fragment, and the forms of the marked ones."""
    parser = _Blocks()
    parser.feed(text)
    parser.close()
    return list(enumerate(parser.lines, start=1)), parser.marked
