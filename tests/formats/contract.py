"""The contract every Carrier must pass; each format's test module subclasses CarrierContract."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthguard.errors import SynthguardError
from synthguard.formats import registry
from synthguard.formats.base import Carrier
from synthguard.label.model import AigcLabel


def payload_of(carrier: Carrier, data: bytes) -> bytes:
    """The joined content payload, for comparisons."""
    return b"".join(bytes(p) for p in carrier.content_payload(data))


class CarrierContract:
    """Subclass and set carrier, format_name, samples() and decode(); every test then runs for that format."""

    carrier: ClassVar[Carrier]
    format_name: ClassVar[str]
    truncation_detectable: ClassVar[bool] = True

    def samples(self) -> list[bytes]:
        """Unlabeled real files of this format (at least one)."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """The decoded content (pixels, samples, frames, text) with an independent decoder."""
        raise NotImplementedError

    def test_sniff_and_registry(self) -> None:
        for data in self.samples():
            found = registry().detect(data, None)
            assert found is not None
            assert found[0].name == self.carrier.name
            assert found[1].format == self.format_name

    def test_write_then_read_exactly_one_standard_label(self, label: AigcLabel) -> None:
        for data in self.samples():
            out = self.carrier.write(data, label)
            labels = self.carrier.read(out)
            standard = [f for f in labels if f.standard]
            assert len(labels) == 1, labels
            assert len(standard) == 1
            assert standard[0].label == label
            assert standard[0].problems == ()

    def test_rewrite_replaces_not_adds(self, label: AigcLabel, label2: AigcLabel) -> None:
        for data in self.samples():
            twice = self.carrier.write(self.carrier.write(data, label), label2)
            labels = self.carrier.read(twice)
            assert [f.label for f in labels] == [label2]

    def test_content_bit_identical(self, label: AigcLabel) -> None:
        for data in self.samples():
            out = self.carrier.write(data, label)
            assert self.decode(out) == self.decode(data)

    def test_payload_unchanged_by_write(self, label: AigcLabel, label2: AigcLabel) -> None:
        for data in self.samples():
            before = payload_of(self.carrier, data)
            assert before
            once = self.carrier.write(data, label)
            assert payload_of(self.carrier, once) == before
            assert payload_of(self.carrier, self.carrier.write(once, label2)) == before

    def test_truncated_input_raises_our_error(self, label: AigcLabel) -> None:
        if not self.truncation_detectable:
            pytest.skip("this format's truncation cannot be told from a shorter valid file")
        data = self.samples()[0]
        for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
            with pytest.raises(SynthguardError):
                self.carrier.write(data[:cut], label)

    def test_mutations_raise_only_our_errors(self, label: AigcLabel) -> None:
        data = self.samples()[0][:65536]
        check: Callable[[bytes], None] = self._survives

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.lists(st.tuples(st.integers(0, max(len(data) - 1, 0)), st.integers(0, 255)), max_size=8),
            st.integers(0, len(data)),
        )
        def run(edits: list[tuple[int, int]], cut: int) -> None:
            buf = bytearray(data)
            for pos, value in edits:
                buf[pos] = value
            check(bytes(buf[:cut]) if cut else bytes(buf))

        run()

    def _survives(self, blob: bytes) -> None:
        label = AigcLabel.first_write("001191440300708461136T1XGW3", "fuzz-1")
        for op in (
            lambda: self.carrier.read(blob),
            lambda: self.carrier.write(blob, label),
            lambda: list(self.carrier.content_payload(blob)),
        ):
            with contextlib.suppress(SynthguardError):
                op()
