"""Small, valid sample files of every labelable format, made locally (for the demo and benchmarks)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

SampleMaker = Callable[[int], bytes]


def _image(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    base = np.stack([(x * 3 + seed) % 256, (y * 5) % 256, ((x + y) * 2) % 256], axis=-1)
    noise = rng.integers(0, 24, size=base.shape)
    return Image.fromarray(((base + noise) % 256).astype(np.uint8), "RGB")


def _pil(fmt: str, **options: object) -> SampleMaker:
    def make(seed: int) -> bytes:
        buf = io.BytesIO()
        img = _image(seed)
        if fmt == "GIF":
            frames = [img.convert("P"), _image(seed + 1).convert("P")]
            frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
        else:
            img.save(buf, fmt, **options)
        return buf.getvalue()

    return make


def _heic(seed: int) -> bytes:
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(_image(seed)).save(buf, quality=80)
    return buf.getvalue()


def _av(container: str, vcodec: str | None, acodec: str | None, *, seconds: float = 0.5) -> SampleMaker:
    def make(seed: int) -> bytes:
        import av

        vstream: Any
        astream: Any
        buf = io.BytesIO()
        with av.open(buf, "w", format=container) as out:
            vstream = astream = None
            if vcodec:
                vstream = out.add_stream(vcodec, rate=10)
                vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
            if acodec:
                rate = 48000 if acodec in ("libopus", "opus") else 44100
                options = {"strict": "experimental"} if acodec == "vorbis" else {}
                astream = out.add_stream(acodec, rate=rate, options=options)
                astream.layout = "mono" if acodec != "vorbis" else "stereo"
            if vstream is not None:
                for i in range(int(10 * seconds)):
                    frame = av.VideoFrame.from_image(_image(seed + i, (64, 48)))  # type: ignore[no-untyped-call]
                    for packet in vstream.encode(frame):
                        out.mux(packet)
                for packet in vstream.encode():
                    out.mux(packet)
            if astream is not None:
                _encode_tone(out, astream, seed, seconds)
        return buf.getvalue()

    return make


def _encode_tone(out: object, stream: object, seed: int, seconds: float) -> None:
    import av

    rate = stream.rate  # type: ignore[attr-defined]
    fmt = stream.codec_context.codec.audio_formats[0].name  # type: ignore[attr-defined]
    frame_size = stream.codec_context.frame_size or 1024  # type: ignore[attr-defined]
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * np.sin(2 * np.pi * (220 + 10 * (seed % 20)) * t)).astype(np.float32)
    layout = stream.layout.name  # type: ignore[attr-defined]
    channels = len(stream.layout.channels)  # type: ignore[attr-defined]
    planar = fmt.endswith("p")
    for start in range(0, len(tone), frame_size):
        chunk = np.repeat(tone[None, start : start + frame_size], channels, axis=0)
        if fmt.startswith("s16"):
            samples, name = (chunk * 32767).astype(np.int16), "s16"
        elif fmt.startswith("s32"):
            samples, name = (chunk * 2**30).astype(np.int32), "s32"
        else:
            samples, name = chunk, "flt"
        if not planar:
            samples = samples.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format=name + ("p" if planar else ""), layout=layout
        )
        frame.sample_rate = rate
        frame.pts = start
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            out.mux(packet)  # type: ignore[attr-defined]
    for packet in stream.encode():  # type: ignore[attr-defined]
        out.mux(packet)  # type: ignore[attr-defined]


def _wav(seed: int) -> bytes:
    import wave

    buf = io.BytesIO()
    t = np.arange(8000) / 16000
    pcm = (0.3 * np.sin(2 * np.pi * (300 + seed) * t) * 32767).astype("<i2")
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


_OOXML_MAIN = {
    "docx": (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
        "<w:t>Sample {seed}</w:t></w:r></w:p></w:body></w:document>",
    ),
    "xlsx": (
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>',
    ),
    "pptx": (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
    ),
}


def _ooxml(kind: str) -> SampleMaker:
    part, ctype, rel, body = _OOXML_MAIN[kind]

    def make(seed: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(
                "[Content_Types].xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/{part}" ContentType="{ctype}"/></Types>',
            )
            z.writestr(
                "_rels/.rels",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                f'<Relationship Id="rId1" Type="{rel}" Target="{part}"/></Relationships>',
            )
            z.writestr(part, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + body.format(seed=seed))
        return buf.getvalue()

    return make


def _pdf(seed: int) -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 100))
    page = pdf.pages[0]
    page.Contents = pdf.make_stream(f"BT /F1 12 Tf 20 50 Td (Sample {seed}) Tj ET".encode())
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def _markdown(seed: int) -> bytes:
    return f"---\ntitle: Sample {seed}\n---\n\n# Sample {seed}\n\nGenerated text for the demo.\n".encode()


MAKERS: dict[str, tuple[str, SampleMaker]] = {
    "png": (".png", _pil("PNG")),
    "jpeg": (".jpg", _pil("JPEG", quality=90)),
    "webp": (".webp", _pil("WEBP", quality=80)),
    "gif": (".gif", _pil("GIF")),
    "tiff": (".tif", _pil("TIFF")),
    "heic": (".heic", _heic),
    "avif": (".avif", _pil("AVIF", quality=70)),
    "mp4": (".mp4", _av("mp4", "libx264", "aac")),
    "mov": (".mov", _av("mov", "libx264", "aac")),
    "m4a": (".m4a", _av("ipod", None, "aac")),
    "mkv": (".mkv", _av("matroska", "libx264", "aac")),
    "webm": (".webm", _av("webm", "libvpx-vp9", "libopus")),
    "wav": (".wav", _wav),
    "mp3": (".mp3", _av("mp3", None, "libmp3lame")),
    "flac": (".flac", _av("flac", None, "flac")),
    "ogg": (".ogg", _av("ogg", None, "vorbis")),
    "opus": (".opus", _av("ogg", None, "libopus")),
    "docx": (".docx", _ooxml("docx")),
    "xlsx": (".xlsx", _ooxml("xlsx")),
    "pptx": (".pptx", _ooxml("pptx")),
    "pdf": (".pdf", _pdf),
    "markdown": (".md", _markdown),
}


def make_sample(kind: str, seed: int = 0) -> tuple[str, bytes]:
    """A sample of one kind: its file extension and bytes."""
    ext, maker = MAKERS[kind]
    return ext, maker(seed)
