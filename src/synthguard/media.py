"""Media: bytes plus the format sniffed from them (never from the name) and the carrier that handles it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from synthguard.errors import UnsupportedFormat
from synthguard.fileio import read_input
from synthguard.formats import Carrier, Sniffed, registry


@dataclass(frozen=True)
class Media:
    """A file's bytes with its detected format and carrier."""

    data: bytes
    carrier: Carrier
    sniffed: Sniffed
    name: str | None = None

    @property
    def format(self) -> str:
        """The specific format name, e.g. "png" or "m4a"."""
        return self.sniffed.format

    @classmethod
    def from_bytes(cls, data: bytes, name: str | None = None) -> Media:
        """Detect the format of in-memory bytes (the name is only a hint for text formats)."""
        if not data:
            raise UnsupportedFormat("file is empty", path=name)
        found = registry().detect(data, name)
        if found is None:
            raise UnsupportedFormat(f"unrecognised format (starts with {bytes(data[:8])!r})", path=name)
        return cls(data, found[0], found[1], name)

    @classmethod
    def open(cls, path: str | os.PathLike[str], limit: int | None = None) -> Media:
        """Read a file within the size limit and detect its format."""
        data = read_input(path, limit)
        return cls.from_bytes(data, Path(path).name).with_name(str(path))

    def with_name(self, name: str) -> Media:
        """The same media under another display name."""
        return Media(self.data, self.carrier, self.sniffed, name)


def supported_formats() -> list[str]:
    """Every format name some registered carrier handles."""
    return sorted({f for c in registry().carriers for f in c.formats})
