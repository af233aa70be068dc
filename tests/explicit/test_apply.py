"""The one-pass explicit + metadata pipeline for every modality, its detection in verify, and the CLI flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthguard.errors import UnsupportedFormat
from synthguard.explicit.apply import apply_explicit, detect_explicit
from synthguard.media import Media
from synthguard.samples import make_sample
from synthguard.verify import Verdict, verify_media
from tests.conftest import PRODUCER

EXE = [sys.executable, "-m", "synthguard.cli.main"]


def _big_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["png", "mp4", "wav", "markdown"])
def test_each_modality_gets_both_labels(kind: str) -> None:
    data = _big_png() if kind == "png" else make_sample(kind, 3)[1]
    result = apply_explicit(Media.from_bytes(data, f"x.{kind}"), PRODUCER, f"explicit-{kind}")
    out = Media.from_bytes(result.data, f"x.{kind}")
    assert verify_media(out).verdict is Verdict.COMPLIANT
    assert result.label.produce_id == f"explicit-{kind}"
    assert detect_explicit(out)["found"] is True


def test_clean_files_are_not_detected() -> None:
    assert detect_explicit(Media.from_bytes(_big_png(), "x.png"))["found"] is False
    assert detect_explicit(Media.from_bytes(make_sample("wav", 4)[1], "x.wav"))["found"] is False


def test_documents_without_explicit_pipeline_are_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        apply_explicit(Media.from_bytes(make_sample("pdf", 1)[1], "x.pdf"), PRODUCER)


def test_cli_explicit_and_text(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(_big_png())
    res = subprocess.run(
        [*EXE, "label", "in.png", "--producer", PRODUCER, "--explicit", "--position", "top-left", "-o", "out.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    rep = json.loads(
        subprocess.run(
            [*EXE, "verify", "out.png", "--explicit", "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )[0]
    assert rep["verdict"] == "compliant" and rep["checks"]["explicit"]["position"] == "top-left"
    text = subprocess.run(
        [*EXE, "label", "--producer", PRODUCER, "--text", "回答", "--position", "suffix"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert text.returncode == 0 and text.stdout.rstrip().endswith("【AI生成】")
    bad = subprocess.run(
        [*EXE, "label", "--producer", PRODUCER, "--text", "回答", "--wording", "AI"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 7 and len(bad.stderr.strip().splitlines()) == 1


def test_propagate_detects_an_explicit_label_as_case_3(tmp_path: Path) -> None:
    labeled = apply_explicit(Media.from_bytes(_big_png(), "x.png"), PRODUCER, "p3").data
    from PIL import Image

    Image.open(__import__("io").BytesIO(labeled)).save(tmp_path / "stripped.png")  # metadata gone, pixels kept
    res = subprocess.run(
        [
            *EXE,
            "propagate",
            "stripped.png",
            "--propagator",
            "00119144030008867405X220001",
            "--propagate-id",
            "post-1",
            "-o",
            "p.png",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "Label=3" in res.stdout and "case 3" in res.stderr
