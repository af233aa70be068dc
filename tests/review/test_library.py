"""The library model: intake fields, versions, the change log, atomic swaps, import/export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthguard.errors import CorruptInput, InputError
from synthguard.review.lexicon import Entry, Library, LiveLibrary
from synthguard.review.lexio import export_entries, load_library, read_entries, save_library
from synthguard.review.taxonomy import RISKS, Action, Status


def test_taxonomy_has_31_risks() -> None:
    assert len(RISKS) == 31


def test_entry_validation() -> None:
    with pytest.raises(InputError):
        Entry("x", "A.9.9")
    with pytest.raises(InputError):
        Entry(" ", "A.1.1")
    with pytest.raises(InputError):
        Entry("x", "A.1.1", views=frozenset({"telepathy"}))
    assert Entry("x", None, action=Action.ALLOW).risk is None


def test_versions_and_log() -> None:
    lib = Library()
    (e,) = lib.add([Entry("赌博", "A.1.8")], actor="alice", reason="intake")
    assert lib.version == 1 and e.added_by == "alice" and e.added_at
    assert lib.add([Entry("赌博", "A.1.8")], actor="bob") == []
    lib.update(e.id, actor="bob", reason="false hits", status=Status.DISABLED)
    assert lib.version == 2 and lib.active() == []
    lib.remove(e.id, actor="bob", reason="gone")
    assert [c.op for c in lib.log] == ["add", "disable", "remove"]
    with pytest.raises(InputError):
        lib.update("nope", actor="x", reason="y", status=Status.ACTIVE)


def test_live_library_swaps_index() -> None:
    live = LiveLibrary(Library())
    before = live.index
    assert before.scan("赌博") == []
    live.apply(lambda lib: lib.add([Entry("赌博", "A.1.8")], actor="t"))
    assert before.scan("赌博") == []  # the old index is untouched
    assert [m.entry.term for m in live.index.scan("赌博")] == ["赌博"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    lib = Library(name="t")
    lib.add(
        [Entry("赌博", "A.1.8", views=frozenset({"normal", "pinyin"})), Entry("路口", None, action=Action.ALLOW)],
        actor="a",
    )
    path = save_library(lib, tmp_path / "lib.json")
    again = load_library(path)
    assert again.entries == lib.entries and again.version == lib.version and again.log == lib.log
    (tmp_path / "d").mkdir()
    save_library(lib, tmp_path / "d")
    assert load_library(tmp_path / "d").entries == lib.entries


@pytest.mark.parametrize("fmt", ["txt", "csv", "json"])
def test_export_import_round_trip(tmp_path: Path, fmt: str) -> None:
    entries = [Entry("赌博", "A.1.8", views=frozenset({"normal", "pinyin"})), Entry("毒品", "A.1.8")]
    path = tmp_path / f"w.{fmt}"
    path.write_text(export_entries(entries, fmt), encoding="utf-8")
    back = read_entries(path, defaults={"risk": "A.1.8"})
    assert [e.term for e in back] == ["赌博", "毒品"]
    if fmt != "txt":
        assert back[0].views == entries[0].views


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes("好".encode() + b"\xff")
    with pytest.raises(CorruptInput, match="byte offset 3"):
        read_entries(bad, defaults={"risk": "A.1.8"})
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CorruptInput):
        load_library(tmp_path / "x.json")
    csv = tmp_path / "c.csv"
    csv.write_text("term,risk\n赌博,A.7.7\n", encoding="utf-8")
    with pytest.raises(InputError, match="entry 1"):
        read_entries(csv)
