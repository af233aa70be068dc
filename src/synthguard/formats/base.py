"""The Carrier protocol: sniff a format, read every label in it, write exactly one standard label."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from synthguard.errors import CorruptInput
from synthguard.label.model import AigcLabel, JsonShape, ParsedLabel


class Modality(StrEnum):
    """What kind of content a file holds."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    TEXT = "text"


@dataclass(frozen=True)
class FoundLabel:
    """One label found in a file: where, in which shape, whether standard, and what is wrong with it."""

    carrier: str
    shape: JsonShape | None
    standard: bool
    raw: str
    label: AigcLabel | None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def from_parsed(
        cls, parsed: ParsedLabel, *, carrier: str, raw: str, standard: bool, notes: tuple[str, ...] = ()
    ) -> FoundLabel:
        """Wrap a parse result with where it was found."""
        return cls(
            carrier=carrier,
            shape=parsed.shape,
            standard=standard and parsed.label is not None,
            raw=raw,
            label=parsed.label,
            problems=parsed.problems,
            notes=tuple(notes) + parsed.notes,
        )


@dataclass(frozen=True)
class Sniffed:
    """A carrier's claim on some bytes: the specific format name and its modality."""

    format: str
    modality: Modality
    media_type: str


class Carrier(ABC):
    """One container family: sniff, read labels, write one standard label, yield the content payload."""

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def sniff(self, head: bytes, name: str | None = None) -> Sniffed | None:
        """Return the format if these leading bytes belong to this carrier, else None."""

    @abstractmethod
    def read(self, data: bytes) -> list[FoundLabel]:
        """Every label present, standard or vendor variant; raise CorruptInput on malformed structure."""

    @abstractmethod
    def write(self, data: bytes, label: AigcLabel) -> bytes:
        """Return the file with exactly one standard label (replacing any earlier), content untouched."""

    @abstractmethod
    def content_payload(self, data: bytes) -> Iterator[bytes]:
        """The bytes that are the content itself (not metadata), which a signature binds to."""


@dataclass
class Registry:
    """The ordered set of carriers; the first whose sniff claims the bytes wins."""

    carriers: list[Carrier] = field(default_factory=list)

    def register(self, carrier: Carrier) -> Carrier:
        """Add a carrier (one registration per module)."""
        self.carriers.append(carrier)
        return carrier

    def detect(self, data: bytes, name: str | None = None) -> tuple[Carrier, Sniffed] | None:
        """The carrier and format for these bytes, or None if no carrier claims them."""
        head = bytes(data[:4096])
        for carrier in self.carriers:
            sniffed = carrier.sniff(head, name)
            if sniffed is not None:
                return carrier, sniffed
        return None

    def by_name(self, name: str) -> Carrier:
        """The carrier registered under a name."""
        for carrier in self.carriers:
            if carrier.name == name:
                return carrier
        raise KeyError(name)


def need(condition: bool, what: str) -> None:
    """Raise CorruptInput with a reason when a structural check fails."""
    if not condition:
        raise CorruptInput(what)
