"""One Report for any file: every label found, field and signature checks, and a verdict."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from synthguard.errors import SynthguardError
from synthguard.formats.base import FoundLabel
from synthguard.label.codes import code_problem
from synthguard.label.security import Role, SignatureCheck, SignatureStatus, TrustStore, check
from synthguard.media import Media

if TYPE_CHECKING:
    from synthguard.watermarking import WatermarkConfig


class Verdict(StrEnum):
    """The overall judgement of a file's metadata labeling."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    INCONCLUSIVE = "inconclusive"
    NOT_FOUND = "not-found"


@dataclass(frozen=True)
class LabelFinding:
    """One label with its checks."""

    found: FoundLabel
    signatures: tuple[SignatureCheck, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        f = self.found
        return {
            "carrier": f.carrier,
            "shape": f.shape.value if f.shape else None,
            "standard": f.standard,
            "fields": f.label.fields() if f.label else None,
            "raw": f.raw if f.label is None else None,
            "problems": list(self.problems),
            "notes": list(f.notes),
            "signatures": [s.to_dict() for s in self.signatures],
        }


@dataclass
class Report:
    """What verification found in one file; `checks` holds results of other detectors (watermark, ledger…)."""

    path: str | None
    format: str | None
    modality: str | None
    labels: list[LabelFinding] = field(default_factory=list)
    verdict: Verdict = Verdict.NOT_FOUND
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "path": self.path,
            "format": self.format,
            "modality": self.modality,
            "verdict": self.verdict.value,
            "reasons": self.reasons,
            "label_count": len(self.labels),
            "labels": [finding.to_dict() for finding in self.labels],
            "checks": self.checks,
        }


def _finding(found: FoundLabel, payload: bytes | None, trust: TrustStore | None) -> LabelFinding:
    problems = list(found.problems)
    sigs: list[SignatureCheck] = []
    if found.label is not None:
        lab = found.label
        if lab.content_producer and code_problem(lab.content_producer):
            problems.append(
                f"ContentProducer is not a valid service-provider code: {code_problem(lab.content_producer)}"
            )
        if lab.content_propagator and code_problem(lab.content_propagator):
            problems.append(
                f"ContentPropagator is not a valid service-provider code: {code_problem(lab.content_propagator)}"
            )
        chunks = None if payload is None else [payload]
        sigs.append(check(lab, Role.PRODUCER, chunks, trust))
        if lab.reserved_code2 and lab.reserved_code2 != lab.reserved_code1:
            sigs.append(check(lab, Role.PROPAGATOR, chunks, trust))
        elif lab.reserved_code2:
            sigs.append(
                SignatureCheck(
                    Role.PROPAGATOR,
                    sigs[0].status,
                    sigs[0].algorithm,
                    sigs[0].key_id,
                    sigs[0].binding,
                    "mirrors ReservedCode1 (first write)",
                )
            )
    return LabelFinding(found, tuple(sigs), tuple(problems))


def judge(labels: list[LabelFinding]) -> tuple[Verdict, list[str]]:
    """The verdict and its reasons for a set of label findings."""
    if not labels:
        return Verdict.NOT_FOUND, ["no metadata label found"]
    reasons: list[str] = []
    if len(labels) > 1:
        reasons.append(f"{len(labels)} metadata labels found; GB 45438 §6.1 c allows exactly one")
    for finding in labels:
        f = finding.found
        if f.label is None:
            reasons.append(f"unreadable label in {f.carrier}: {'; '.join(finding.problems)}")
            continue
        if not f.standard:
            reasons.append(f"label is in a non-standard carrier or shape: {f.carrier}")
        reasons.extend(finding.problems)
        for sig in finding.signatures:
            if sig.status is SignatureStatus.INVALID:
                reasons.append(f"{sig.role.value} signature invalid: {sig.detail} (evidence of tampering, Art. 18)")
    if reasons:
        return Verdict.NON_COMPLIANT, reasons
    notes = []
    for sig in labels[0].signatures:
        if sig.status is SignatureStatus.VALID_UNKNOWN_KEY:
            notes.append(f"{sig.role.value} signature valid but its key is not pinned (integrity only)")
        elif sig.status is SignatureStatus.UNRECOGNISED:
            notes.append(f"{sig.role.value} security data present but not in a form this verifier knows")
    return Verdict.COMPLIANT, notes


def verify_media(media: Media, trust: TrustStore | None = None) -> Report:
    """Verify in-memory media."""
    report = Report(media.name, media.format, media.sniffed.modality.value)
    found = media.carrier.read(media.data)
    needs_payload = any(f.label is not None and (f.label.reserved_code1 or f.label.reserved_code2) for f in found)
    payload = b"".join(bytes(c) for c in media.carrier.content_payload(media.data)) if needs_payload else None
    report.labels = [_finding(f, payload, trust) for f in found]
    report.verdict, report.reasons = judge(report.labels)
    return report


def verify(
    path: str | os.PathLike[str],
    trust: TrustStore | None = None,
    limit: int | None = None,
    ledger: str | None = None,
    explicit: bool = False,
    watermark: WatermarkConfig | None = None,
) -> Report:
    """Verify a file's metadata labels; optionally detect its explicit label and trace it in a ledger."""
    media = Media.open(path, limit)
    try:
        report = verify_media(media, trust)
        if explicit:
            from synthguard.explicit.apply import detect_explicit

            report.checks["explicit"] = detect_explicit(media)
        if watermark is not None:
            add_watermark_check(report, media, watermark)
        if ledger is not None:
            add_ledger_trace(report, media, ledger, trust)
        return report
    except SynthguardError as exc:
        raise exc.at(str(path)) from None


def add_watermark_check(report: Report, media: Media, config: WatermarkConfig) -> None:
    """Detect the provider's watermark and hold it against the metadata label (disagreement: non-compliant)."""
    from synthguard import watermarking

    result = watermarking.detect(media, config)
    labels = [f.found.label for f in report.labels if f.found.label is not None]
    problems = watermarking.agreement(result, labels, config)
    result["agrees_with_metadata"] = not problems
    report.checks["watermark"] = result
    if problems:
        report.verdict = Verdict.NON_COMPLIANT
        report.reasons.extend(f"{p} — evidence of tampering" for p in problems)


def add_ledger_trace(report: Report, media: Media, target: str, trust: TrustStore | None) -> None:
    """Put the ledger lookup (entries, verified inclusion proofs) into report.checks["ledger"]."""
    from synthguard.ledger import Ledger
    from synthguard.tracing import trace

    labels = [f.found.label for f in report.labels if f.found.label is not None]
    keys = list(trust.keys.values()) if trust else []
    found = report.checks.get("watermark", {})
    mark = found.get("payload") or (found.get("audio_track") or {}).get("payload")  # a video's sound alone also traces
    with Ledger.open(target) as log:
        report.checks["ledger"] = trace(log, labels, media.data, keys, watermark=mark["hex"] if mark else None)
