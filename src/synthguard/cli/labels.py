"""`synthguard label` and `synthguard propagate`: write the GB 45438 metadata label."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

    from synthguard.label.keys import SigningKey
    from synthguard.ledger import Ledger
    from synthguard.media import Media
    from synthguard.watermarking import WatermarkConfig

from synthguard.cli.common import console, err_console
from synthguard.cli.walk import Job, plan
from synthguard.errors import InputError, OutputError, SynthguardError


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _load_key(path: Path | None) -> SigningKey | None:
    if path is None:
        return None
    from synthguard.label.keys import SigningKey

    return SigningKey.load(path)


def _run(jobs: list[Job], work: Callable[[Job, Progress], str], verb: str) -> int:
    """Run work(job, bar) for each job with a progress bar; one line per failure; first failure's exit code."""
    status = 0
    bar = _progress()
    with bar:
        task = bar.add_task(verb, total=len(jobs), visible=len(jobs) > 1)
        for job in jobs:
            try:
                line = work(job, bar)
                if line:
                    console.print(line, markup=False, soft_wrap=True)
            except SynthguardError as exc:
                exc.at(str(job.source))
                err_console.print(f"synthguard: error: {exc}", markup=False, soft_wrap=True)
                status = status or exc.exit_code
            bar.advance(task)
    return status


def _ensure_parent(job: Job) -> None:
    """Create the output's directory for mirrored trees (jobs whose target is under a -o directory)."""
    if not job.mirrored:
        return
    try:
        assert job.target is not None
        job.target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory: {exc.strerror}", path=str(job.target)) from None


def label_command(
    producer: Annotated[str, typer.Option("--producer", help="Your 27-character service-provider code.")],
    files: Annotated[list[Path] | None, typer.Argument(help="Files or directories (walked recursively).")] = None,
    produce_id: Annotated[
        str | None, typer.Option("--produce-id", help="ProduceID (one file only); generated if absent.")
    ] = None,
    sign: Annotated[Path | None, typer.Option("--sign", help="Private key PEM (SM2 or Ed25519) to sign with.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file, or directory for several.")
    ] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace each input (atomically).")] = False,
    replace_existing: Annotated[
        bool, typer.Option("--replace-existing", help="Relabel files already labeled by another producer.")
    ] = False,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger", help="Log each generation here before releasing it (SQLite path or postgresql:// URL)."
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="The requesting user's pseudonym for the ledger (never a raw ID).")
    ] = None,
    explicit: Annotated[
        bool, typer.Option("--explicit", help="Also add the visible/audible label (images, video, audio, Markdown).")
    ] = False,
    position: Annotated[
        str | None,
        typer.Option(
            "--position",
            help="Explicit label position: bottom-right, top-left, top… (audio: start, "
            "middle, end; text: prefix, suffix, inline).",
        ),
    ] = None,
    wording: Annotated[
        str | None, typer.Option("--wording", help="Explicit label wording (must contain AI/人工智能 and 生成/合成).")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Label this text instead of files; prints the labeled text.")
    ] = None,
    text_format: Annotated[str, typer.Option("--format", help="With --text: plain, markdown or html.")] = "plain",
    watermark: Annotated[
        bool, typer.Option("--watermark", help="Also embed the invisible watermark (images, audio, video).")
    ] = False,
    watermark_key: Annotated[
        Path | None,
        typer.Option("--watermark-key", help="Secret watermark key file (or SYNTHGUARD_WATERMARK_KEY as hex)."),
    ] = None,
    producer_short_id: Annotated[
        int, typer.Option("--producer-short-id", help="Your 16-bit producer id inside the watermark payload.")
    ] = 1,
    payload_only: Annotated[
        bool,
        typer.Option(
            "--payload-only", help="With --watermark: refuse audio too short for the payload (no presence-only mark)."
        ),
    ] = False,
) -> None:
    """Write the GB 45438 metadata label (and with --explicit the visible label) into files, reading each back."""
    from synthguard.cli.common import reported
    from synthguard.fileio import write_atomic
    from synthguard.labeling import ExistingPolicy, label_media
    from synthguard.media import Media

    if text is not None:
        with reported():
            if files:
                raise InputError("give either --text or files, not both")
            _label_text(text, position, wording, text_format)
        return
    with reported():
        if not files:
            raise InputError("give files or directories to label (or --text)")
        jobs = plan(files, output, in_place)
        if produce_id is not None and len(jobs) != 1:
            raise InputError("--produce-id names one file's content; give one file or let IDs be generated")
        key = _load_key(sign)
        if (ledger is None) != (user is None):
            raise InputError("--ledger and --user go together: the record ties the output to a user pseudonym")
        wm_config = _watermark_config(watermark_key, producer_short_id) if watermark else None
        log = _open_ledger(ledger)
    policy = ExistingPolicy.REPLACE if replace_existing else ExistingPolicy.REFUSE

    def work(job: Job, bar: Progress) -> str:
        media = Media.open(job.source)
        if explicit:
            from synthguard.explicit.apply import apply_explicit

            frames = bar.add_task(f"labeling {job.source.name}", total=None, visible=False)

            def frame_progress(done: int, total: int | None) -> None:
                bar.update(frames, completed=done, total=total, visible=True)

            try:
                done = apply_explicit(
                    media,
                    producer,
                    produce_id,
                    wording=wording,
                    position=position,
                    signer=key,
                    existing=policy,
                    progress=frame_progress,
                )
            finally:
                bar.remove_task(frames)
            data, label, extra = done.data, done.label, f" explicit {done.details}"
        else:
            result = label_media(media, producer, produce_id, signer=key, existing=policy)
            data, label, extra = result.data, result.label, ""
        mark = None
        if wm_config is not None:  # watermark the final content, then label and sign it again
            from synthguard import watermarking

            embedded = watermarking.embed(
                Media.from_bytes(data, media.name), wm_config, label.produce_id, presence_fallback=not payload_only
            )
            mark = embedded.payload_hex
            again = label_media(
                Media.from_bytes(embedded.data, media.name),
                producer,
                label.produce_id,
                signer=key,
                existing=ExistingPolicy.REPLACE,
            )
            note = f" ({embedded.note})" if embedded.note else ""
            data, label, extra = again.data, again.label, f"{extra} watermark {mark or 'presence-only'}{note}"
        assert job.target is not None
        logged = ""
        if log is not None and user is not None:  # fail closed: nothing is released unless the record is durable
            from synthguard.tracing import log_generation

            logged = f" ledger#{log_generation(log, label, data, user=user, watermark=mark, signer=key)}"
        _ensure_parent(job)
        write_atomic(job.target, data, mode_from=job.source)
        signed = " signed" if key else ""
        return f"labeled{signed} {job.target} ({media.format}) ProduceID={label.produce_id}{logged}{extra}"

    try:
        status = _run(jobs, work, "labeling")
    finally:
        if log is not None:
            log.close()
    raise typer.Exit(status)


def _label_text(text: str, position: str | None, wording: str | None, fmt: str) -> None:
    """Print the text with its explicit notice."""
    from synthguard.cli.common import write_stdout
    from synthguard.explicit.text import FORMATS, POSITIONS, label_text

    where = position or "prefix"
    if where not in POSITIONS or fmt not in FORMATS:
        raise InputError(f"--position is one of {', '.join(POSITIONS)} and --format one of {', '.join(FORMATS)}")
    write_stdout(label_text(text, position=where, wording=wording, fmt=fmt))  # type: ignore[arg-type]


def _watermark_config(path: Path | None, short_id: int) -> WatermarkConfig:
    from synthguard.watermarking import WatermarkConfig

    return WatermarkConfig.load(path, short_id)


def _explicit_label_seen(media: Media) -> bool:
    """Case 3 of the Measures Art. 6: the platform's own detector finds an explicit label."""
    from synthguard.errors import UnsupportedFormat
    from synthguard.explicit.apply import detect_explicit

    try:
        found = detect_explicit(media).get("found") is True
    except UnsupportedFormat:
        return False
    if found:
        err_console.print(
            "note: an explicit AI label was detected in the content (Measures Art. 6, case 3)", markup=False
        )
    return found


def _open_ledger(target: str | None) -> Ledger | None:
    if target is None:
        return None
    from synthguard.ledger import Ledger

    return Ledger.open(target, create=True)


def propagate_command(
    file: Annotated[Path, typer.Argument(help="The received file.")],
    propagator: Annotated[str, typer.Option("--propagator", help="The platform's code (service type 2).")],
    propagate_id: Annotated[str, typer.Option("--propagate-id", help="The platform's number for this content.")],
    user_declared: Annotated[
        bool, typer.Option("--user-declared", help="The uploader declared it AI-generated.")
    ] = False,
    detected: Annotated[
        bool,
        typer.Option("--detected", help="The platform detected an explicit label, watermark or other traces."),
    ] = False,
    sign: Annotated[Path | None, typer.Option("--sign", help="Private key PEM to sign ReservedCode2 with.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output file.")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace the input (atomically).")] = False,
) -> None:
    """Apply the Measures Art. 6 as a platform: set Label 1/2/3 and write the propagation fields."""
    from synthguard.cli.common import reported
    from synthguard.fileio import write_atomic
    from synthguard.labeling import PropagationCase, propagate_media
    from synthguard.media import Media

    with reported(str(file)):
        jobs = plan([file], output, in_place)
        key = _load_key(sign)
        media = Media.open(file)
        if not detected and not user_declared and not media.carrier.read(media.data):
            detected = _explicit_label_seen(media)
        result = propagate_media(
            media, propagator, propagate_id, user_declared=user_declared, traces_detected=detected, signer=key
        )
        for note in result.notes:
            err_console.print(f"note: {note}", markup=False)
        if result.case is PropagationCase.NONE or result.data is None:
            console.print(f"{file}: not labeled (no metadata label, declaration or detected traces)", markup=False)
            return
        target = jobs[0].target
        assert target is not None
        write_atomic(target, result.data, mode_from=file)
        assert result.label is not None
        console.print(f"propagated {target}: case {result.case.value}, Label={result.label.label}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the label and propagate verbs."""
    app.command("label")(label_command)
    app.command("propagate")(propagate_command)
