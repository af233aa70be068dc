"""The real `synthguard` command in a subprocess: outputs, exit codes, and the bad-input rules."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import PRODUCER, PROPAGATOR

EXE = [sys.executable, "-m", "synthguard.cli.main"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([*EXE, *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=120)


def _png(path: Path, color: tuple[int, int, int] = (1, 2, 3)) -> Path:
    Image.new("RGB", (24, 24), color).save(path, "PNG")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_keys_label_verify_propagate(tmp_path: Path) -> None:
    src = _png(tmp_path / "in.png")
    assert run("keys", "generate", "-o", "k.pem", cwd=tmp_path).returncode == 0
    assert "PRIVATE" not in run("keys", "show", "k.pem", cwd=tmp_path).stdout
    out = run("label", "in.png", "--producer", PRODUCER, "--sign", "k.pem", "-o", "out.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ver = run("verify", "out.png", "--json", "--trust", "k.pem.pub", cwd=tmp_path)
    assert ver.returncode == 0
    report = json.loads(ver.stdout)[0]
    assert report["verdict"] == "compliant"
    assert report["labels"][0]["signatures"][0]["status"] == "valid-trusted"
    prop = run(
        "propagate",
        "out.png",
        "--propagator",
        PROPAGATOR,
        "--propagate-id",
        "plat-1",
        "-o",
        "p.png",
        cwd=tmp_path,
    )
    assert prop.returncode == 0, prop.stderr
    fields = json.loads(run("verify", "p.png", "--json", cwd=tmp_path).stdout)[0]["labels"][0]["fields"]
    assert fields["ContentPropagator"] == PROPAGATOR and fields["ContentProducer"] == PRODUCER
    assert src.exists()


def test_directory_walk_mirrors_tree(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    _png(tmp_path / "in" / "a.png")
    _png(tmp_path / "in" / "sub" / "b.png")
    res = run("label", "in", "--producer", PRODUCER, "-o", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "sub" / "b.png").exists()
    assert run("verify", "out", cwd=tmp_path).returncode == 0
    assert run("verify", "in", cwd=tmp_path).returncode == 1


def _assert_clean_failure(res: subprocess.CompletedProcess[str], name: str, words: str) -> None:
    assert res.returncode not in (0, 70), res
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert name in lines[0] and words in lines[0].lower()
    assert "Traceback" not in res.stderr + res.stdout


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.png", b"", "empty"),
        ("trunc.png", None, "truncated"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "png"),
        ("notes.png", b"hello, just some text", "unrecognised format"),
        ("photo.jpg", None, ""),
    ],
)
def test_bad_input_one_line_and_untouched(tmp_path: Path, name: str, content: bytes | None, words: str) -> None:
    good = _png(tmp_path / "good.png").read_bytes()
    path = tmp_path / name
    if name == "trunc.png":
        content = good[: len(good) // 2]
    if name == "photo.jpg":  # a PNG with the wrong extension is labeled as PNG: sniffed, not named
        path.write_bytes(good)
        res = run("label", name, "--producer", PRODUCER, "-o", "out.jpg", cwd=tmp_path)
        assert res.returncode == 0 and "(png)" in res.stdout
        return
    path.write_bytes(content or b"")
    before = _digest(path)
    res = run("label", name, "--producer", PRODUCER, "-o", "out.png", cwd=tmp_path)
    _assert_clean_failure(res, name, words)
    assert not (tmp_path / "out.png").exists()
    assert _digest(path) == before
    assert not list(tmp_path.glob("*.sgtmp"))


def test_size_limit_is_configurable(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    res = run(
        "label",
        "a.png",
        "--producer",
        PRODUCER,
        "-o",
        "o.png",
        cwd=tmp_path,
        env={"SYNTHGUARD_MAX_BYTES": "10"},
    )
    _assert_clean_failure(res, "a.png", "exceeds the limit")


def test_unwritable_output_keeps_everything(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    res = run("label", "a.png", "--producer", PRODUCER, "-o", "no/such/dir/o.png", cwd=tmp_path)
    _assert_clean_failure(res, "o.png", "does not exist")
    _png(tmp_path / "b.png")
    res = run("label", "a.png", "b.png", "--producer", PRODUCER, "-o", "a.png", cwd=tmp_path)
    _assert_clean_failure(res, "a.png", "directory")


def test_bad_producer_code_is_one_line(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    res = run("label", "a.png", "--producer", "001191440300708461136U1XGW3", "-o", "o.png", cwd=tmp_path)
    _assert_clean_failure(res, "a.png", "check character")


def test_in_place_failure_leaves_input(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[:-20])
    before = _digest(path)
    res = run("label", "a.png", "--producer", PRODUCER, "--in-place", cwd=tmp_path)
    assert res.returncode != 0
    assert _digest(path) == before


def test_missing_output_choice_is_explained(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    res = run("label", "a.png", "--producer", PRODUCER, cwd=tmp_path)
    assert res.returncode == 3 and "--in-place" in res.stderr


def test_help_lists_every_verb(tmp_path: Path) -> None:
    out = run("--help", cwd=tmp_path).stdout
    for verb in ("label", "verify", "propagate", "keys"):
        assert verb in out
