"""The vectorised hit path equals the per-hit reference on random texts and lexicons; RE2 Set candidates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthguard.review import hits as hx
from synthguard.review.lexicon import Entry
from synthguard.review.matcher import CompiledIndex
from synthguard.review.rules import RuleSet
from synthguard.review.taxonomy import Action, Kind
from tests.review.reference import scan_reference

# letters that exercise the views: width, case, styled, traditional, repeats, separators, wide code points
ALPHABET = "法轮功輪口交路通毒品读赌博网站张弓长三丰avAVＡⓋ𝐚b1２ 　*\u200b😀𠀀ー-" + "x"
VIEWS = ["normal", "pinyin", "initials", "homophone", "chaizi", "exact"]
ACTIONS = [Action.BLOCK, Action.REVIEW, Action.FLAG, Action.ALLOW, Action.ALLOW]

words = st.text(alphabet=ALPHABET, min_size=1, max_size=5).filter(lambda w: w.strip() != "")
entries = st.lists(
    st.tuples(
        words,
        st.sampled_from(ACTIONS),
        st.sets(st.sampled_from(VIEWS), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=12,
)
texts = st.text(alphabet=ALPHABET + "0123456789qq微信号.com", max_size=120)
noise = st.text(alphabet=ALPHABET + " \u200b*", max_size=4)


@st.composite
def lexicon_and_text(draw: st.DrawFn) -> tuple[list[tuple[str, Action, set[str]]], str]:
    """A lexicon and a text made of its terms (raw, spaced, upper-cased, repeated) and noise between them."""
    spec = draw(entries)
    terms = [t for t, _, _ in spec]
    variants = st.sampled_from(terms).flatmap(
        lambda t: st.sampled_from([t, " ".join(t), t.upper(), t + t[-1] * 2, "\u200b".join(t)])
    )
    parts = draw(st.lists(st.one_of(variants, noise, texts.map(lambda x: x[:20])), max_size=10))
    return spec, "".join(parts)


def build(spec: list[tuple[str, Action, set[str]]]) -> CompiledIndex:
    out = []
    for term, action, views in spec:
        risk = None if action is Action.ALLOW else "A.1.8"
        out.append(Entry(term, risk, action=action, views=frozenset(views)))
    return CompiledIndex(out)


def rows(index: CompiledIndex, text: str, chunk: int) -> list[tuple[str, str, int, int]]:
    return [(m.entry.id, m.view, m.start, m.end) for m in index.scan(text, chunk=chunk)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lexicon_and_text())
def test_scan_equals_per_hit_reference(case: tuple[list[tuple[str, Action, set[str]]], str]) -> None:
    spec, text = case
    index = build(spec)
    assert rows(index, text, 1 << 20) == scan_reference(index, text, 1 << 20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lexicon_and_text(), min_size=1, max_size=4), st.integers(280, 400))
def test_chunked_scan_equals_reference(cases: list[tuple[list[tuple[str, Action, set[str]]], str]], chunk: int) -> None:
    index = build(cases[0][0])
    text = "".join(t for _, t in cases) * 12
    assert rows(index, text, chunk) == scan_reference(index, text, chunk)


spans = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 8)), max_size=30)


@settings(max_examples=500, deadline=None)
@given(spans, spans)
def test_allowlist_resolution_equals_pairwise(deny: list[tuple[int, int]], allow: list[tuple[int, int]]) -> None:
    d_s = np.array([s for s, _ in deny], dtype=np.int64)
    d_e = np.array([s + n for s, n in deny], dtype=np.int64)
    a_s = np.array([s for s, _ in allow], dtype=np.int64)
    a_e = np.array([s + n for s, n in allow], dtype=np.int64)
    got = hx.allowed(d_s, d_e, a_s, a_e).tolist()
    assert got == hx.allowed_reference(d_s.tolist(), d_e.tolist(), a_s.tolist(), a_e.tolist())


def test_duplicate_ids_dedupe_across_chunks_like_the_reference() -> None:
    index = CompiledIndex([Entry("法轮功", "A.1.1"), Entry("法轮功", "A.1.1"), Entry("轮功", "A.1.1")])
    text = ("新闻法轮功报道" * 200) + "法 輪 功"
    assert rows(index, text, 300) == scan_reference(index, text, 300)
    assert rows(index, text, 1 << 20) == scan_reference(index, text, 1 << 20)


def test_ascii_terms_with_repeats_and_multi_fold_neighbours() -> None:
    index = CompiledIndex([Entry("av", "A.1.6"), Entry("kg", "A.1.6")])
    for text in ["avvv片", "avvvx", "ＡＶｖ", "㎏", "a㎏", "kg㎏", "java", "Ⓐ𝐕𝐯𝐯!", "av\ud800", "av𠀀"]:
        assert rows(index, text, 1 << 20) == scan_reference(index, text, 1 << 20), text


RULES = [r"代开发票\d+", r"加[a-z]{2,}群", r"\bfoo", r"刷单.{0,3}返利", r"x+y"]


@pytest.mark.parametrize(
    "text", ["", "代开发票123", "加abc群 刷单再返利", "foo bar", "xxxy 代开发票", "什么都没有", "foofoo xy"]
)
def test_rule_set_candidates_are_the_matching_rules(text: str) -> None:
    import re2

    rule_set = RuleSet(RULES)
    expected = [i for i, p in enumerate(RULES) if re2.search(p, text)]
    assert rule_set.candidates(text) == expected


def test_rule_set_falls_back_to_every_rule_when_it_cannot_tell() -> None:
    rule_set = RuleSet(RULES)

    class Failing:
        def Match(self, text: str) -> None:  # the RE2 Set method name
            return None  # what the binding returns when the DFA runs out of memory

    rule_set._set = Failing()
    assert rule_set.candidates("代开发票1") == list(range(len(RULES)))


def test_regex_rules_through_the_set_hit_like_before() -> None:
    spec = [Entry(p, "A.3.2", kind=Kind.REGEX) for p in RULES] + [Entry("发票", None, action=Action.ALLOW)]
    index = CompiledIndex(spec)
    text = "请代开发票 123 或 加ＡＢＣ群，刷单再返利 foo"
    assert rows(index, text, 1 << 20) == scan_reference(index, text, 1 << 20)
    # foo reads "fo" in the normal view (repeats collapse); 代开发票123 strictly contains the allowed 发票
    assert {m.entry.term for m in index.scan(text)} == {r"代开发票\d+", r"加[a-z]{2,}群", r"刷单.{0,3}返利"}
