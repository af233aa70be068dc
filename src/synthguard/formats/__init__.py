"""Metadata-label carriers, one module per container family, discovered and registered by name."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from synthguard.formats.base import Carrier, FoundLabel, Modality, Registry, Sniffed

_NOT_CARRIERS = {"base", "xmp", "exif", "bmff", "ebml"}


@cache
def registry() -> Registry:
    """Every carrier module's CARRIERS, ordered by priority (lower first), then by name."""
    found: list[Carrier] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_CARRIERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "CARRIERS", ()))
    found.sort(key=lambda c: (getattr(c, "priority", 100), c.name))
    return Registry(found)


__all__ = ["Carrier", "FoundLabel", "Modality", "Registry", "Sniffed", "registry"]
