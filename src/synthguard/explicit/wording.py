"""Explicit-label wording: the GB 45438 §5 rule (an AI element and a generation element), defaults, validation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from synthguard.errors import LabelInvalid

MAX_LENGTH = 64
"""Longest wording accepted (characters): a label is a short notice, not a caption."""

# "AI" must stand alone: no Latin letter or digit touching it ("PAID", "AIR", "MAI" do not count).
_AI_TOKEN = re.compile(r"(?<![A-Za-z0-9])AI(?![A-Za-z0-9])")
_AI_WORDS = re.compile(r"\bartificial[\s-]+intelligence\b", re.IGNORECASE)
_GEN_WORDS = re.compile(r"\b(generat|synthe[sz]i[sz]|synthetic)\w*", re.IGNORECASE)
_ZH_AI = "人工智能"
_ZH_GEN = ("生成", "合成")


class Language(StrEnum):
    """Which reading of the rule a wording satisfies."""

    CHINESE = "zh"
    ENGLISH = "en"
    BILINGUAL = "zh+en"


@dataclass(frozen=True)
class Wording:
    """A validated explicit-label text and the elements that make it comply."""

    text: str
    language: Language
    ai_element: str
    generation_element: str

    SHORT: ClassVar[str] = "AI生成"
    LONG: ClassVar[str] = "人工智能生成"
    ENGLISH: ClassVar[str] = "AI-generated"
    BILINGUAL: ClassVar[str] = "AI生成 AI-generated"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def validate(cls, text: str) -> Wording:
        """Return the wording if it complies with GB 45438 §5, else raise LabelInvalid naming what is missing."""
        problems = wording_problems(text)
        if problems:
            raise LabelInvalid(f"explicit label wording {text!r}: " + "; ".join(problems))
        norm = _normalise(text)
        zh = _chinese_elements(norm)
        en = _english_elements(norm)
        if zh and en:
            return cls(text, Language.BILINGUAL, zh[0], zh[1])
        if zh:
            return cls(text, Language.CHINESE, zh[0], zh[1])
        if en is None:  # unreachable: wording_problems() found one reading
            raise LabelInvalid(f"explicit label wording {text!r} does not comply")
        return cls(text, Language.ENGLISH, en[0], en[1])

    @classmethod
    def default(cls, long: bool = False) -> Wording:
        """The default Chinese wording: "AI生成", or "人工智能生成" when long."""
        return cls.validate(cls.LONG if long else cls.SHORT)


def _normalise(text: str) -> str:
    # NFKC folds full-width "ＡＩ" to "AI" and compatibility forms of the ideographs.
    return unicodedata.normalize("NFKC", text)


def _chinese_elements(text: str) -> tuple[str, str] | None:
    """The (AI, generation) elements under the Chinese reading, if both are present."""
    ai = _ZH_AI if _ZH_AI in text else ("AI" if _AI_TOKEN.search(text) else None)
    gen = next((g for g in _ZH_GEN if g in text), None)
    return (ai, gen) if ai and gen else None


def _english_elements(text: str) -> tuple[str, str] | None:
    """The (AI, generation) elements under the English reading, if both are present."""
    ai_match = _AI_TOKEN.search(text) or _AI_WORDS.search(text)
    gen_match = _GEN_WORDS.search(text)
    if ai_match is None or gen_match is None:
        return None
    return ai_match.group(0), gen_match.group(0)


def wording_problems(text: str) -> list[str]:
    """Every reason the text is not a compliant explicit label (empty when it complies)."""
    if not isinstance(text, str) or not text.strip():
        return ["is empty"]
    problems: list[str] = []
    if len(text) > MAX_LENGTH:
        problems.append(f"is longer than {MAX_LENGTH} characters")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in text):
        problems.append("contains control, format or unassigned characters")
    norm = _normalise(text)
    if _chinese_elements(norm) is None and _english_elements(norm) is None:
        has_ai = _ZH_AI in norm or bool(_AI_TOKEN.search(norm)) or bool(_AI_WORDS.search(norm))
        has_gen = any(g in norm for g in _ZH_GEN) or bool(_GEN_WORDS.search(norm))
        if not has_ai:
            problems.append('has no AI element ("人工智能", "AI" or "artificial intelligence")')
        if not has_gen:
            problems.append('has no generation element ("生成", "合成", or English "generated"/"synthesized")')
        if has_ai and has_gen:
            problems.append("mixes a Chinese element with an English one; use one language per element pair")
    return problems


def resolve(wording: Wording | str | None) -> Wording:
    """A Wording from a validated object, a text to validate, or None for the short default."""
    if wording is None:
        return Wording.default()
    if isinstance(wording, Wording):
        return wording
    return Wording.validate(wording)
