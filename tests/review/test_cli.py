"""The review and lexicon verbs through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from synthguard.cli.main import app

runner = CliRunner()


def test_import_review_stats_export(tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.json")
    (tmp_path / "deny.txt").write_text("法轮功\n口交\n", encoding="utf-8")
    (tmp_path / "allow.txt").write_text("路口\n", encoding="utf-8")
    r = runner.invoke(
        app,
        [
            "lexicon",
            "import",
            str(tmp_path / "deny.txt"),
            "-l",
            lib,
            "--risk",
            "A.1.6",
            "--action",
            "block",
            "--by",
            "alice",
            "--reason",
            "intake test",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["lexicon", "import", str(tmp_path / "allow.txt"), "-l", lib, "--action", "allow", "--by", "alice"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["review", "路口交通", "-l", lib, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["decision"] == "pass"
    r = runner.invoke(app, ["review", "法 輪 功", "-l", lib])
    assert r.exit_code == 12 and "block" in r.output
    r = runner.invoke(app, ["lexicon", "stats", "-l", lib, "--json"])
    assert json.loads(r.output)["entries"] == 3
    r = runner.invoke(app, ["lexicon", "export", "-l", lib, "--format", "txt"])
    assert r.output.split() == ["法轮功", "口交", "路口"]
    r = runner.invoke(app, ["lexicon", "evaluate", "-l", lib, "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["coverage"]["shortfalls"]


def test_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff")
    lib = tmp_path / "lib.json"
    (tmp_path / "d.txt").write_text("x\n", encoding="utf-8")
    runner.invoke(app, ["lexicon", "import", str(tmp_path / "d.txt"), "-l", str(lib), "--risk", "A.1.8", "--by", "a"])
    r = runner.invoke(app, ["review", str(bad), "-l", str(lib)])
    assert r.exit_code == 5 and "byte offset 2" in r.output
    r = runner.invoke(app, ["review", "x", "-l", str(tmp_path / "missing.json")])
    assert r.exit_code == 2
    r = runner.invoke(app, ["lexicon", "import", str(tmp_path / "d.txt"), "-l", str(lib), "--risk", "A.1.8"])
    assert r.exit_code == 3 and "--by" in r.output
