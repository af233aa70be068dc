"""The README's console examples run as written, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import shared_path

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(), re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_readme_has_examples() -> None:
    assert len(_examples()) >= 5


def test_readme_console_examples_run(tmp_path: Path) -> None:
    # A real photo: pure noise is a borderline watermark host (its self-check z is ~11-13, key-dependent).
    Image.open(shared_path("images", "skimage_coffee.png")).convert("RGB").save(tmp_path / "in.png")
    env = {**os.environ, "COLUMNS": "200"}
    for command in _examples():
        argv = shlex.split(command)
        assert argv[0] == "synthguard"
        res = subprocess.run(
            [sys.executable, "-m", "synthguard.cli.main", *argv[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert res.returncode == 0, (command, res.stdout, res.stderr)


def test_readme_python_example_runs(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    Image.new("RGB", (40, 30)).save(tmp_path / "in.png")
    res = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "compliant" in res.stdout
