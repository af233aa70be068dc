"""Markdown carrier: the contract, the real Coze files, and the restricted YAML reader's edge cases."""

from __future__ import annotations

import json

import pytest

from synthguard.errors import CorruptInput, UnsupportedFormat
from synthguard.formats import registry
from synthguard.formats.markdown import MarkdownCarrier, front_matter
from synthguard.label.model import AigcLabel, JsonShape
from tests.conftest import shared_path
from tests.formats.contract import CarrierContract

CARRIER = MarkdownCarrier()

WITH_FM = (
    "---\n"
    'title: "A: quoted title"\n'
    "tags:\n"
    "  - one\n"
    "  - two\n"
    "summary: |\n"
    "  AIGC: this is a block scalar, not a label\n"
    "---\n"
    "# Heading\n\nBody text with --- a dash run.\n"
)
CRLF = "---\r\nlayout: post\r\n---\r\nBody line\r\n"


def _body(data: bytes) -> str:
    """The body after the front matter, found independently of the carrier."""
    text = data.decode("utf-8")
    if not text.startswith("---"):
        return text
    return text.split("\n---", 1)[1].split("\n", 1)[1] if "\n---" in text else ""


class TestMarkdownContract(CarrierContract):
    carrier = CARRIER
    format_name = "markdown"
    truncation_detectable = False

    def samples(self) -> list[bytes]:
        return [WITH_FM.encode(), CRLF.encode(), "---\ntitle: x\n---\n正文\n".encode()]

    def decode(self, data: bytes) -> object:
        return _body(data)


@pytest.mark.shared
@pytest.mark.parametrize(
    "name",
    [
        "markdown/ai-naming__09-合规隐私与内容安全说明.md",
        "markdown/ai-naming__technical-solution-ai-naming-20260612-234200.md",
    ],
)
def test_real_coze_files_match_ground_truth(name: str, label: AigcLabel) -> None:
    truth = json.loads(shared_path("aigc-labeled", "GROUND_TRUTH.json").read_text())[name]["aigc"]
    data = shared_path("aigc-labeled", name).read_bytes()
    assert registry().detect(data, name)[0].name == "markdown"  # type: ignore[index]
    found = CARRIER.read(data)
    assert len(found) == 1
    assert found[0].standard and found[0].shape is JsonShape.YAML
    assert found[0].label is not None and found[0].label.fields() == truth
    out = CARRIER.write(data, label)
    assert [f.label for f in CARRIER.read(out)] == [label]
    # the 4-space indent is kept and the body is byte-identical
    assert out.split(b"\n---\n", 1)[1] == data.split(b"\n---\n", 1)[1]
    assert b'\n    ContentProducer: "' + label.content_producer.encode() + b'"\n' in out


def test_other_front_matter_lines_stay_byte_identical(label: AigcLabel) -> None:
    src = (
        b"---\ntitle: T\nAIGC:\n  Label: '1'\n  ContentProducer: abc\n  ProduceID: p1\n"
        b"# a comment\nauthor: me\n---\nbody\n"
    )
    out = CARRIER.write(src, label)
    text = out.decode()
    assert text.startswith('---\ntitle: T\nAIGC:\n  Label: "1"\n')
    assert text.endswith('  ReservedCode2: ""\n# a comment\nauthor: me\n---\nbody\n')


def test_adds_front_matter_when_absent_and_body_unchanged(label: AigcLabel) -> None:
    src = "\ufeff# Title\n\ntext\n".encode()
    out = CARRIER.write(src, label)
    assert out.startswith("\ufeff---\nAIGC:\n".encode())
    assert out.endswith(src[3:])
    assert [f.label for f in CARRIER.read(out)] == [label]
    assert b"".join(CARRIER.content_payload(out)) == b"".join(CARRIER.content_payload(src))


def test_adds_to_existing_front_matter_without_label(label: AigcLabel) -> None:
    out = CARRIER.write(b"---\ntitle: x\n---\nbody\n", label)
    assert out.startswith(b"---\ntitle: x\nAIGC:\n")
    assert out.endswith(b"\n---\nbody\n")


def test_sniff_rules() -> None:
    assert CARRIER.sniff(b"---\ntitle: x\n---\n") is not None
    assert CARRIER.sniff(b"plain text, no fence") is None
    assert CARRIER.sniff(b"plain text", "notes.md") is not None
    assert CARRIER.sniff(b"plain text", "NOTES.MARKDOWN") is not None
    assert CARRIER.sniff(b"\xff\xfe binary", "x.md") is None
    assert CARRIER.sniff(b"---\n\0binary") is None
    # a head cut inside a multi-byte character is still text
    assert CARRIER.sniff("---\n中".encode()[:-1]) is not None


def test_unquoted_numbers_nulls_and_quotes() -> None:
    src = (
        b"---\nAIGC:\n    Label: 1\n    ContentProducer: 'it''s'\n    ProduceID: \"a\\x41b\"\n"
        b"    ReservedCode1:\n    ContentPropagator: ~\n    PropagateID: x#1 # trailing comment\n"
        b"    ReservedCode2: ''\n---\n"
    )
    (found,) = CARRIER.read(src)
    assert found.label is not None
    assert found.label.label == "1"
    assert found.label.content_producer == "it's"
    assert found.label.produce_id == "aAb"
    assert found.label.propagate_id == "x#1"
    assert any("Label is an unquoted YAML number" in p for p in found.problems)
    assert any("ReservedCode1 is null" in n for n in found.notes)


@pytest.mark.parametrize(
    "block",
    [
        'AIGC:\n    Label: "1"\n    ProduceID: |\n      multi\n      line\n',
        'AIGC:\n    Label: "1"\n    ProduceID: [a, b]\n',
        'AIGC:\n    Label: "1"\n    ProduceID: "unterminated\n',
        'AIGC:\n    Label: "1"\n      nested: x\n',
    ],
)
def test_unsupported_yaml_is_reported_not_misread(block: str) -> None:
    (found,) = CARRIER.read(f"---\n{block}---\nbody\n".encode())
    assert found.label is None
    assert found.problems


def test_multiline_quoted_value_elsewhere_is_not_a_key() -> None:
    src = b'---\ntitle: "first line\nAIGC: not a key\n  end"\n---\nbody\n'
    assert CARRIER.read(src) == []


def test_vendor_json_key_read_and_superseded(label: AigcLabel) -> None:
    raw = json.dumps({"AIGC": {"Label": "1", "ContentProducer": "x", "ProduceID": "p"}})
    src = f"---\naigc_label: '{raw}'\nother: 1\n---\nbody\n".encode()
    (found,) = CARRIER.read(src)
    assert not found.standard
    assert found.label is not None and found.label.produce_id == "p"
    out = CARRIER.write(src, label)
    assert out == b"---\n" + CARRIER.write(b"---\n---\n", label)[4:-4] + b"other: 1\n---\nbody\n"


def test_unclosed_front_matter_is_corrupt(label: AigcLabel) -> None:
    with pytest.raises(CorruptInput):
        CARRIER.read(b'---\nAIGC:\n    Label: "1"\n')
    with pytest.raises(CorruptInput):
        CARRIER.write(b"\xff\xfe", label)
    assert front_matter("no front matter") is None


def test_toml_front_matter_is_refused(label: AigcLabel) -> None:
    with pytest.raises(UnsupportedFormat):
        CARRIER.write(b"+++\ntitle = 'x'\n+++\nbody\n", label)


def test_long_whitespace_runs_do_not_stall_the_parser(label: AigcLabel) -> None:
    spaces = " " * 200_000
    src = f"---\nkey{spaces}\nk: a{spaces}b\nAIGC:\n    Label: {spaces}\n---\nbody\n".encode()
    (found,) = CARRIER.read(src)
    assert found.label is None or found.label.label == ""
    assert [f.label for f in CARRIER.read(CARRIER.write(src, label))] == [label]
