"""Library files: the JSON library format, and import/export of plain word lists, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthguard.errors import CorruptInput, InputError
from synthguard.fileio import read_input, write_atomic
from synthguard.review.lexicon import Change, Entry, Library
from synthguard.review.taxonomy import Action, Severity

FORMAT = "synthguard-lexicon/1"
CSV_FIELDS = (
    "id",
    "term",
    "kind",
    "risk",
    "severity",
    "action",
    "views",
    "directions",
    "services",
    "source",
    "added_by",
    "reason",
    "status",
    "added_at",
)


def decode_text(data: bytes, path: str) -> str:
    """UTF-8 (a BOM is dropped), or a CorruptInput naming the file and the byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptInput(f"invalid UTF-8 at byte offset {exc.start}", path=path) from None


def library_path(location: str | Path) -> Path:
    """The library file for a path: a directory holds library.json; anything else is the file itself."""
    path = Path(location)
    return path / "library.json" if path.is_dir() else path


def load_library(location: str | Path) -> Library:
    """Read a library file (see docs/review.md, "Library format")."""
    path = library_path(location)
    text = decode_text(read_input(path), str(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptInput(f"not JSON: {exc.msg} at line {exc.lineno}", path=str(path)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CorruptInput(f"not a synthguard library (expected format {FORMAT!r})", path=str(path))
    try:
        entries = [Entry.from_dict(e) for e in doc.get("entries", [])]
        log = [Change(**c) for c in doc.get("log", [])]
        return Library(
            name=str(doc.get("name", "default")),
            version=int(doc.get("version", 0)),
            entries={e.id: e for e in entries},
            log=log,
        )
    except (TypeError, ValueError) as exc:
        raise CorruptInput(f"malformed library: {exc}", path=str(path)) from None
    except InputError as exc:
        raise CorruptInput(f"malformed entry: {exc.message}", path=str(path)) from None


def save_library(library: Library, location: str | Path) -> Path:
    """Write the library atomically (a temporary file renamed into place)."""
    path = library_path(location)
    doc = {
        "format": FORMAT,
        "name": library.name,
        "version": library.version,
        "entries": [e.to_dict() for e in library.entries.values()],
        "log": [
            {"version": c.version, "at": c.at, "actor": c.actor, "op": c.op, "entry_id": c.entry_id, "reason": c.reason}
            for c in library.log
        ],
    }
    write_atomic(path, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def read_entries(
    path: str | Path,
    *,
    fmt: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> list[Entry]:
    """Entries from a plain word list (one term a line), CSV (header row) or JSON (list or library)."""
    p = Path(path)
    fmt = fmt or {".csv": "csv", ".json": "json"}.get(p.suffix.lower(), "txt")
    text = decode_text(read_input(p), str(p))
    base = dict(defaults or {})
    try:
        if fmt == "txt":
            return _from_rows(({"term": line.strip()} for line in text.splitlines() if line.strip()), base)
        if fmt == "csv":
            reader = csv.DictReader(io.StringIO(text))
            if not reader.fieldnames or "term" not in reader.fieldnames:
                raise InputError("a CSV word list needs a header row with a 'term' column")
            return _from_rows(reader, base)
        if fmt == "json":
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CorruptInput(f"not JSON: {exc.msg} at line {exc.lineno}") from None
            rows = doc.get("entries") if isinstance(doc, dict) else doc
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise InputError("a JSON word list is a list of entry objects or a library document")
            return _from_rows(rows, base)
    except InputError as exc:
        raise exc.at(str(p)) from None
    raise InputError(f"unknown word-list format {fmt!r} (txt, csv or json)", path=str(p))


def _from_rows(rows: Iterable[dict[str, Any]], defaults: dict[str, Any]) -> list[Entry]:
    out: list[Entry] = []
    for number, row in enumerate(rows, start=1):
        merged = {**defaults, **{k: v for k, v in row.items() if v not in (None, "")}}
        if merged.get("action") == Action.ALLOW and "risk" not in row:
            merged.pop("risk", None)
        try:
            out.append(Entry.from_dict(merged))
        except InputError as exc:
            raise InputError(f"entry {number}: {exc.message}") from None
    return out


def export_entries(entries: Iterable[Entry], fmt: str) -> str:
    """Entries as a plain word list, CSV or JSON text."""
    items = list(entries)
    if fmt == "txt":
        return "".join(f"{e.term}\n" for e in items)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for e in items:
            row = e.to_dict()
            for key in ("views", "directions", "services"):
                row[key] = "|".join(row[key])
            writer.writerow({k: row[k] if row[k] is not None else "" for k in CSV_FIELDS})
        return buf.getvalue()
    if fmt == "json":
        return json.dumps([e.to_dict() for e in items], ensure_ascii=False, indent=1) + "\n"
    raise InputError(f"unknown export format {fmt!r} (txt, csv or json)")


def defaults_for(
    *,
    risk: str | None = None,
    action: str | None = None,
    severity: str | None = None,
    views: str | None = None,
    source: str | None = None,
    added_by: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Import defaults from command-line style options (None: leave the field to the file or the default)."""
    raw = {
        "risk": risk,
        "action": action,
        "severity": severity or Severity.MEDIUM.value,
        "views": views,
        "source": source,
        "added_by": added_by,
        "reason": reason,
    }
    return {k: v for k, v in raw.items() if v is not None}
