"""Matching through the public API: views, spans, allowlist, detectors, rules, chunks, bad input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthguard.errors import InputError, SynthguardError
from synthguard.review.lexicon import Entry, Library
from synthguard.review.matcher import CompiledIndex
from synthguard.review.reviewer import Reviewer
from synthguard.review.taxonomy import Action, Decision, Kind

ALL = frozenset({"normal", "pinyin", "initials", "homophone", "chaizi"})
ENTRIES = [
    Entry("法轮功", "A.1.1", action=Action.BLOCK, views=frozenset({"normal", "pinyin", "chaizi"})),
    Entry("口交", "A.1.6"),
    Entry("路口", None, action=Action.ALLOW),
    Entry("交通", None, action=Action.ALLOW),
    Entry("av", "A.1.6"),
    Entry("张三丰", "A.4.3", views=frozenset({"normal", "chaizi"})),
    Entry("赌博网站", "A.1.8", views=frozenset({"normal", "initials"})),
    Entry("毒品", "A.1.8", views=frozenset({"normal", "homophone"})),
    Entry(r"代开发票\d+", "A.3.2", kind=Kind.REGEX),
]


@pytest.fixture(scope="module")
def index() -> CompiledIndex:
    return CompiledIndex(ENTRIES)


def hits(index: CompiledIndex, text: str) -> list[tuple[str, str]]:
    return [(m.entry.term, text[m.start : m.end]) for m in index.scan(text)]


@pytest.mark.parametrize(
    ("text", "excerpt"),
    [
        ("法轮功", "法轮功"),
        ("法 輪 功", "法 輪 功"),  # spaces, traditional
        ("法\u200b轮😀功", "法\u200b轮😀功"),  # zero-width, emoji
        ("法*轮#功", "法*轮#功"),  # symbols
        ("法法法轮功功", "法法法轮功"),  # repeats
        ("fa lun gong", "fa lun gong"),  # pinyin view
        ("发论公", "发论公"),  # homophones through pinyin
    ],
)
def test_evasions_hit_with_exact_original_span(index: CompiledIndex, text: str, excerpt: str) -> None:
    assert ("法轮功", excerpt) in hits(index, text)


def test_styled_and_width_letters(index: CompiledIndex) -> None:
    assert ("av", "Ⓐ𝐕") in hits(index, "看Ⓐ𝐕片")
    assert ("av", "ＡＶ") in hits(index, "看ＡＶ片")


def test_ascii_terms_need_word_boundaries(index: CompiledIndex) -> None:
    assert hits(index, "have a java") == []
    assert hits(index, "a bravado") == []


def test_allowlist_beats_overlapping_hit(index: CompiledIndex) -> None:
    assert hits(index, "路口交通") == []
    assert ("口交", "口交") in hits(index, "他们口交")


def test_opt_in_views(index: CompiledIndex) -> None:
    assert ("张三丰", "弓长三丰") in hits(index, "弓长三丰")
    assert ("赌博网站", "dbwz") in hits(index, "找dbwz")
    assert ("毒品", "读品") in hits(index, "读品")
    assert hits(index, "kg") == []  # 口交 has no initials view


def test_contact_details_in_digit_variants(index: CompiledIndex) -> None:
    found = dict(hits(index, "电话①③⑧ 1234 5678，加微信 abc_1234 或 QQ 12345678"))
    assert found["<phone>"] == "①③⑧ 1234 5678"
    assert found["<wechat>"] == "abc_1234"
    assert found["<qq>"] == "12345678"
    assert ("<phone>", "壹叁捌壹贰叁肆伍陆柒捌") in hits(index, "壹叁捌壹贰叁肆伍陆柒捌")
    assert ("<phone>", "一三八八八八八八八八八") in hits(index, "打一三八八八八八八八八八")
    assert ("<url>", "ｗｗｗ．example。com") in hits(index, "上ｗｗｗ．example。com看")


def test_regex_rule_on_normal_view(index: CompiledIndex) -> None:
    assert (r"代开发票\d+", "代 开 发 票 123") in hits(index, "可以代 开 发 票 123")


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", "a*", "(a{1,1000}){1,1000}", "(" * 3])
def test_pathological_or_invalid_rules_are_refused_at_load(pattern: str) -> None:
    lib = Library()
    with pytest.raises(InputError):
        lib.add([Entry(pattern, "A.1.8", kind=Kind.REGEX)], actor="t")
    assert lib.version == 0


def test_matches_across_chunk_boundaries(index: CompiledIndex) -> None:
    filler = "今天天气很好。" * 50
    text = filler + "法 轮 功" + filler + "电话13812345678" + filler
    small = index.scan(text, chunk=97)
    whole = index.scan(text)
    assert [(m.entry.id, m.start, m.end) for m in small] == [(m.entry.id, m.start, m.end) for m in whole]
    assert {m.entry.term for m in small} >= {"法轮功", "<phone>"}


def test_reviewer_decisions_and_scopes() -> None:
    lib = Library()
    lib.add(ENTRIES, actor="t")
    lib.add([Entry("只查输出", "A.1.8", action=Action.BLOCK, directions=frozenset({"output"}))], actor="t")
    reviewer = Reviewer(lib)
    assert reviewer.review_text("法轮功").decision is Decision.BLOCK
    assert reviewer.review_text("他们口交").decision is Decision.REVIEW
    assert reviewer.review_text("今天路口交通很好").decision is Decision.PASS
    assert reviewer.review_text("只查输出", direction="input").decision is Decision.PASS
    assert reviewer.review_text("只查输出", direction="output").decision is Decision.BLOCK


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"法轮功口交路通 av*①壹一三八\u200b😀ＡＶ輪0123456789.。wq微信", "\ud800"]),
        max_size=60,
    )
)
def test_every_hit_is_a_span_of_the_original(text: str) -> None:
    index = CompiledIndex(ENTRIES)
    for m in index.scan(text):
        assert 0 <= m.start < m.end <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_nothing_but_our_errors(text: str) -> None:
    reviewer = Reviewer(Library())
    with contextlib.suppress(SynthguardError):
        reviewer.review_text(text)
