"""The command-line examples in docs/ledger.md run as written (PostgreSQL lines are covered elsewhere)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthguard.cli.main import app
from tests.ledger.conftest import PRODUCER
from tests.ledger.test_cli import ed25519_pem

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"


def doc_commands() -> list[str]:
    """The `synthguard …` lines of the command-line section, continuations joined, comments dropped."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"## Command line\s+```sh\n(.*?)```", text, re.S)
    assert block, "docs/ledger.md lost its command-line example block"
    joined = block.group(1).replace("\\\n", " ")
    out = []
    for raw in joined.splitlines():
        line = raw.split("  #")[0].strip()
        if line.startswith("synthguard ") and "postgresql://" not in line:
            out.append(line)
    return out


def test_doc_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    priv, _ = ed25519_pem(tmp_path, "provider.pem")
    assert priv.name == "provider.pem"
    Path("out.png").write_bytes(b"\x89PNG generated output")
    shutil.copy("out.png", "suspicious.png")
    rows = [
        {"produce_id": f"sg-{i}", "producer": PRODUCER, "content_hash": f"{i:064x}", "user": "user_batch01"}
        for i in range(2, 1202)
    ]
    Path("today.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    commands = doc_commands()
    assert len(commands) >= 10
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}"
