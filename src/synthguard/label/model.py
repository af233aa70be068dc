"""The GB 45438 Appendix E metadata label: seven string fields, validation and both JSON shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from synthguard.errors import LabelInvalid
from synthguard.label.codes import code_problem

FIELDS: tuple[str, ...] = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)
_ATTRS: tuple[str, ...] = (
    "label",
    "content_producer",
    "produce_id",
    "reserved_code1",
    "content_propagator",
    "propagate_id",
    "reserved_code2",
)


class LabelValue(StrEnum):
    """The Label field: 1 AI-generated, 2 possibly AI-generated, 3 suspected AI-generated."""

    AI_GENERATED = "1"
    POSSIBLY = "2"
    SUSPECTED = "3"


class JsonShape(StrEnum):
    """How a label's JSON was laid out where it was found."""

    WRAPPED = "wrapped"  # {"AIGC":{...}} (Appendix E)
    INNER = "inner"  # the seven-key object as the value of a property named AIGC (per-format guides)
    ATTRIBUTES = "xmp-attributes"  # fields as separate XMP attributes/elements (vendor variant)
    YAML = "yaml"  # Markdown front matter mapping


def value_problem(name: str, value: str) -> str | None:
    """Why a field value breaks the allowed-character rule (printable ASCII, no space or backslash)."""
    for ch in value:
        code = ord(ch)
        if code < 0x21 or code > 0x7E or ch == "\\":
            return f"{name} contains a character not allowed by GB 45438 ({ch!r}, U+{code:04X})"
    return None


@dataclass(frozen=True)
class AigcLabel:
    """An implicit metadata label with the seven Appendix E fields, all strings."""

    label: str
    content_producer: str
    produce_id: str
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    @classmethod
    def first_write(cls, producer: str, produce_id: str, *, label: str = "1", reserved_code1: str = "") -> AigcLabel:
        """A producer's first label: propagator fields equal the producer fields, validated."""
        made = cls(label, producer, produce_id, reserved_code1, producer, produce_id, reserved_code1)
        return made.validated(strict_codes=True)

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> AigcLabel:
        """Build from a mapping with the Appendix E key names (missing keys become "")."""
        return cls(*(str(fields.get(k, "")) for k in FIELDS))

    def fields(self) -> dict[str, str]:
        """The label as an ordered mapping with the Appendix E key names."""
        return {k: getattr(self, a) for k, a in zip(FIELDS, _ATTRS, strict=True)}

    def problems(self, *, strict_codes: bool = False) -> list[str]:
        """Every rule this label breaks; empty when it is valid."""
        out: list[str] = []
        if self.label not in {v.value for v in LabelValue}:
            out.append(f"Label must be 1, 2 or 3, got {self.label!r}")
        # A platform labeling content it received unlabeled (Label 2 or 3) knows no producer.
        platform_only = self.label in ("2", "3") and bool(self.content_propagator and self.propagate_id)
        if not self.content_producer and not platform_only:
            out.append("ContentProducer is empty")
        if not self.produce_id and not platform_only:
            out.append("ProduceID is empty")
        if self.produce_id and set(self.produce_id) == {"0"}:
            out.append("ProduceID is all zeros (not unique)")
        for name, value in self.fields().items():
            problem = value_problem(name, value)
            if problem:
                out.append(problem)
        if strict_codes:
            for name, value in (
                ("ContentProducer", self.content_producer),
                ("ContentPropagator", self.content_propagator),
            ):
                if value:
                    cp = code_problem(value)
                    if cp:
                        out.append(f"{name} is not a valid service-provider code: {cp}")
        return out

    def warnings(self) -> list[str]:
        """Departures from good practice that do not by themselves break the standard."""
        out: list[str] = []
        if self.content_producer and code_problem(self.content_producer):
            out.append(f"ContentProducer {self.content_producer!r} is not a 27-character service-provider code")
        if self.content_propagator and code_problem(self.content_propagator):
            out.append(f"ContentPropagator {self.content_propagator!r} is not a 27-character service-provider code")
        if not self.content_propagator and not self.propagate_id:
            out.append("propagator fields are empty (the first write should copy the producer fields)")
        return out

    def validated(self, *, strict_codes: bool = False) -> AigcLabel:
        """Return self, or raise LabelInvalid naming every problem."""
        problems = self.problems(strict_codes=strict_codes)
        if problems:
            raise LabelInvalid("invalid label: " + "; ".join(problems))
        return self

    def with_propagation(
        self, propagator: str, propagate_id: str, *, label: str | None = None, reserved_code2: str = ""
    ) -> AigcLabel:
        """This label with a platform's propagation fields (and optionally a new Label value)."""
        return replace(
            self,
            label=self.label if label is None else label,
            content_propagator=propagator,
            propagate_id=propagate_id,
            reserved_code2=reserved_code2,
        )

    def to_json(self, shape: JsonShape = JsonShape.WRAPPED) -> str:
        """Compact JSON in the wrapped {"AIGC":{...}} or the inner seven-key shape."""
        inner = self.fields()
        obj: dict[str, Any] = {"AIGC": inner} if shape is JsonShape.WRAPPED else inner
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class ParsedLabel:
    """The outcome of parsing a label's text: the label (if any), its shape and what was wrong."""

    label: AigcLabel | None
    shape: JsonShape | None
    problems: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)


def parse_label_json(text: str) -> ParsedLabel:
    """Parse either JSON shape; never raises, reports problems instead."""
    stripped = text.strip().lstrip("\ufeff")
    try:
        obj = json.loads(stripped)
    except (ValueError, RecursionError) as exc:
        return ParsedLabel(None, None, (f"label is not valid JSON: {exc}",))
    if not isinstance(obj, dict):
        return ParsedLabel(None, None, ("label JSON is not an object",))
    shape = JsonShape.INNER
    if "AIGC" in obj and isinstance(obj["AIGC"], dict):
        obj = obj["AIGC"]
        shape = JsonShape.WRAPPED
    return parse_label_mapping(obj, shape)


def parse_label_mapping(obj: dict[str, Any], shape: JsonShape) -> ParsedLabel:
    """Turn a decoded mapping into a label, reporting missing, extra and non-string fields."""
    problems: list[str] = []
    notes: list[str] = []
    values: dict[str, str] = {}
    for key in FIELDS:
        if key not in obj:
            if key in FIELDS[:3]:
                problems.append(f"{key} is missing")
            else:
                notes.append(f"{key} is missing (all seven keys should be present)")
            values[key] = ""
            continue
        raw = obj[key]
        if raw is None:
            values[key] = ""
            notes.append(f"{key} is null")
        elif isinstance(raw, str):
            values[key] = raw
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            values[key] = str(raw)
            problems.append(f"{key} is a number, not a string")
        else:
            return ParsedLabel(None, shape, (f"{key} is not a string",))
    extra = [k for k in obj if k not in FIELDS]
    if extra:
        notes.append("unknown keys: " + ", ".join(sorted(map(str, extra))))
    label = AigcLabel.from_fields(values)
    problems.extend(p for p in label.problems() if p not in problems)
    notes.extend(label.warnings())
    return ParsedLabel(label, shape, tuple(problems), tuple(notes))
