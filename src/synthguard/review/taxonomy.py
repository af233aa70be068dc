"""The GB/T 45654-2025 Appendix A risk taxonomy (5 categories, 31 risks) and the enums entries use."""

from __future__ import annotations

from enum import StrEnum

RISKS: dict[str, str] = {
    "A.1.1": "煽动颠覆国家政权、推翻社会主义制度",
    "A.1.2": "危害国家安全和利益、损害国家形象",
    "A.1.3": "煽动分裂国家、破坏国家统一和社会稳定",
    "A.1.4": "宣扬恐怖主义、极端主义",
    "A.1.5": "宣扬民族仇恨",
    "A.1.6": "宣扬暴力、淫秽色情",
    "A.1.7": "传播虚假有害信息",
    "A.1.8": "其他法律、行政法规禁止的内容",
    "A.2.1": "民族歧视",
    "A.2.2": "信仰歧视",
    "A.2.3": "国别歧视",
    "A.2.4": "地域歧视",
    "A.2.5": "性别歧视",
    "A.2.6": "年龄歧视",
    "A.2.7": "职业歧视",
    "A.2.8": "健康歧视",
    "A.2.9": "其他方面歧视",
    "A.3.1": "侵犯知识产权",
    "A.3.2": "违反商业道德",
    "A.3.3": "泄露他人商业秘密",
    "A.3.4": "利用算法、数据、平台等优势实施垄断和不正当竞争",
    "A.3.5": "其他商业违法违规行为",
    "A.4.1": "危害他人身心健康",
    "A.4.2": "侵害他人肖像权",
    "A.4.3": "侵害他人名誉权",
    "A.4.4": "侵害他人荣誉权",
    "A.4.5": "侵害他人隐私权",
    "A.4.6": "侵害他人个人信息权益",
    "A.4.7": "侵犯他人其他合法权益",
    "A.5.1": "内容不准确、严重不符合科学常识或主流认知",
    "A.5.2": "内容不可靠、无法对使用者形成帮助",
}
CATEGORIES: dict[str, str] = {
    "A.1": "违反社会主义核心价值观",
    "A.2": "歧视性内容",
    "A.3": "商业违法违规",
    "A.4": "侵犯他人合法权益",
    "A.5": "无法满足特定服务类型的安全需求",
}


class Action(StrEnum):
    """What a hit on an entry asks for; allow entries suppress overlapping hits."""

    BLOCK = "block"
    REVIEW = "review"
    FLAG = "flag"
    ALLOW = "allow"


class Severity(StrEnum):
    """How serious a hit is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (low) to 3 (critical)."""
        return list(Severity).index(self)


class Status(StrEnum):
    """Lifecycle status: only active entries are matched."""

    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class Kind(StrEnum):
    """A literal term or a regular-expression rule (RE2 syntax, linear time)."""

    TERM = "term"
    REGEX = "regex"


class Direction(StrEnum):
    """Users' inputs or the synthesized outputs."""

    INPUT = "input"
    OUTPUT = "output"


class Decision(StrEnum):
    """The outcome of a review."""

    PASS = "pass"
    REVIEW = "review"
    BLOCK = "block"


VIEWS = ("normal", "exact", "pinyin", "initials", "homophone", "chaizi")
"""normal is on by default; the others are opt-in per entry (exact runs on the raw text)."""
DEFAULT_VIEWS = frozenset({"normal"})


def category(risk: str) -> str:
    """The A.n category of a risk code."""
    return risk.rsplit(".", 1)[0]
