"""Text notices: positions, renderings, wording rule, escaping, and detection (incl. no false fire on real prose)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthguard.errors import InputError, LabelInvalid
from synthguard.explicit.detect_text import MAX_NOTICE_CHARS, detect_text, has_notice
from synthguard.explicit.text import label_text, render_notice

SHARED_TEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "text"
TEXT = "第一段第一句。\n第一段第二句。\n\n第二段。\n\n第三段。"


def test_plain_prefix_suffix_inline() -> None:
    assert label_text(TEXT) == "【AI生成】\n\n" + TEXT
    assert label_text(TEXT, position="suffix") == TEXT + "\n\n【AI生成】"
    assert label_text(TEXT, position="inline") == "第一段第一句。\n第一段第二句。\n\n【AI生成】\n\n第二段。\n\n第三段。"


def test_trailing_newlines_and_crlf_are_kept() -> None:
    assert label_text("甲\n\n乙\n", position="suffix") == "甲\n\n乙\n\n【AI生成】\n"
    assert label_text("甲\r\n\r\n乙", position="inline") == "甲\r\n\r\n【AI生成】\r\n\r\n乙"


def test_inline_on_a_single_paragraph_falls_at_the_end() -> None:
    assert label_text("只有一段。", position="inline") == "只有一段。\n\n【AI生成】"


def test_markdown_notice_is_a_block_outside_front_matter_and_code() -> None:
    md = "---\ntitle: t\n---\n```\ncode\n\nmore\n```\n\n正文。"
    assert label_text(md, fmt="markdown") == "---\ntitle: t\n---\n> 【AI生成】\n\n```\ncode\n\nmore\n```\n\n正文。"
    inline = label_text(md, fmt="markdown", position="inline")
    assert inline == "---\ntitle: t\n---\n```\ncode\n\nmore\n```\n\n> 【AI生成】\n\n正文。"
    assert render_notice("AI生成 *v1*", fmt="markdown") == r"> 【AI生成 \*v1\*】"


def test_html_escapes_the_text_and_marks_the_notice() -> None:
    text = '<script>alert("x")</script> & 1 < 2\n第二行\n\n第二段'
    out = label_text(text, fmt="html", position="inline")
    assert "<script>" not in out
    assert '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; 1 &lt; 2<br>\n第二行</p>' in out
    notice = '<p class="aigc-notice" data-aigc-notice="inline" role="note" aria-label="AI生成">AI生成</p>'
    assert out.split("\n")[2] == notice
    assert out.index(notice) < out.index("<p>第二段</p>")
    assert label_text("x", fmt="html").startswith('<p class="aigc-notice" data-aigc-notice="prefix"')
    assert label_text("x", fmt="html", position="suffix").endswith('aria-label="AI生成">AI生成</p>\n')


def test_html_escapes_the_wording_too() -> None:
    out = render_notice('AI生成 <b>"x"</b>', fmt="html")
    assert 'aria-label="AI生成 &lt;b&gt;&quot;x&quot;&lt;/b&gt;"' in out
    assert '>AI生成 &lt;b&gt;"x"&lt;/b&gt;</p>' in out


@pytest.mark.parametrize("wording", ["人工智能生成", "人工智能生成合成", "本内容由AI合成", "AI生成 AI-generated"])
def test_compliant_wordings(wording: str) -> None:
    assert label_text("正文", wording=wording).startswith(f"【{wording}】")


@pytest.mark.parametrize("wording", ["AI", "人工智能", "生成", "", "AI 内容"])
def test_non_compliant_wording_is_rejected(wording: str) -> None:
    with pytest.raises(LabelInvalid):
        label_text("正文", wording=wording)


@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty_text_is_an_error(text: str) -> None:
    with pytest.raises(InputError, match="empty"):
        label_text(text)


def test_unknown_position_or_format() -> None:
    with pytest.raises(InputError, match="position"):
        label_text("x", position="middle")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="format"):
        label_text("x", fmt="rtf")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["plain", "markdown", "html"])
@pytest.mark.parametrize(("position", "where"), [("prefix", "start"), ("inline", "middle"), ("suffix", "end")])
def test_detection_finds_every_rendering(fmt: str, position: str, where: str) -> None:
    out = label_text(TEXT, position=position, fmt=fmt, wording="人工智能生成")  # type: ignore[arg-type]
    report = detect_text(out)
    assert report["found"] is True
    assert report["format"] == ("html" if fmt == "html" else "plain")
    assert [(n["wording"], n["position"]) for n in report["notices"]] == [("人工智能生成", where)]


@pytest.mark.parametrize(
    "text",
    [
        "本回答由AI生成。\n\n正文",
        "正文\n\n（以上内容由人工智能生成，仅供参考）",
        "正文\n\n**AI-generated**",
        "## 人工智能生成合成\n正文",
        "正文\n\n注：本文由AI辅助生成",
    ],
)
def test_detection_true_positives(text: str) -> None:
    assert has_notice(text)


def test_detection_of_html_forms() -> None:
    page = (
        '<html><body><aigc-notice wording="人工智能生成" position="top">人工智能生成</aigc-notice>'
        "<p>正文 &amp; 更多</p><div><span>本内容由AI生成</span></div>"
        "<script>var s = '<p>AI生成</p>';</script></body></html>"
    )
    report = detect_text(page)
    assert [(n["form"], n["wording"], n["position"]) for n in report["notices"]] == [
        ("web-component", "人工智能生成", "start"),
        ("line", "本内容由AI生成", "end"),
    ]


def test_detection_reports_non_compliant_notices() -> None:
    report = detect_text("【AI】\n\n正文")
    assert report["found"] is False and "line 1" in report["problems"][0]
    report = detect_text('<p class="aigc-notice">AI</p><p>正文</p>')
    assert report["found"] is False and "marked-element" in report["problems"][0]


@pytest.mark.parametrize(
    "prose",
    [
        "人工智能生成内容的版权之争",
        "专家认为，AI生成的图片越来越难以分辨。",
        "【人工智能生成技术发展报告】",
        "他说：“这段文字是人工智能生成的吗？”",
        "据报道，多家平台要求对AI合成的视频进行标注，以免误导公众。" * 2,
        "ai生成",
    ],
)
def test_prose_mentioning_ai_generation_is_not_a_notice(prose: str) -> None:
    assert detect_text(prose)["found"] is False
    assert detect_text(f"<p>{html.escape(prose)}</p>")["found"] is False


def shared_lines() -> Iterator[tuple[str, str]]:
    """Every line of the licensed shared Chinese prose (the unlicensed news full text is left out)."""
    if not SHARED_TEXT.exists():
        pytest.skip(f"needs {SHARED_TEXT} (the shared test data beside the repository is absent)")
    for sub in ("wikipedia", "luxun", "court-judgments", "thucnews-headlines"):
        for path in sorted((SHARED_TEXT / sub).glob("*.txt")):
            for line in path.read_text(encoding="utf-8").splitlines():
                yield path.name, line


@pytest.mark.shared
def test_no_false_fire_on_real_prose() -> None:
    lines = list(shared_lines())
    assert len(lines) > 20_000
    fired = [(name, line) for name, line in lines if line.strip() and detect_text(line, fmt="plain")["found"]]
    assert fired == []
    # Whole documents too, including the ones that mention 人工智能.
    mentions = [line for _, line in lines if "人工智能" in line or "AI" in line]
    assert mentions, "the corpus should contain lines that mention AI"
    assert not has_notice("\n".join(mentions), fmt="plain")
    assert all(len(line) > MAX_NOTICE_CHARS or not has_notice(line, fmt="plain") for line in mentions)
