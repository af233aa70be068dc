"""Visible labels on images: every mode and frame, EXIF orientation, metadata kept, GB 45438 metadata label written."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageSequence, JpegImagePlugin, UnidentifiedImageError

from synthguard.errors import CorruptInput, SynthguardError, UnsupportedFormat
from synthguard.explicit.render import (
    MIN_HEIGHT_RATIO,
    LabelPlan,
    LabelStyle,
    Position,
    Scheme,
    choose_scheme,
    composite_image,
    default_margin,
    greys_of,
    place,
    render_label,
    required_glyph_height,
)
from synthguard.explicit.wording import Wording, resolve
from synthguard.formats import exif as exif_format
from synthguard.formats import gif, jpeg, png
from synthguard.label.keys import SigningKey
from synthguard.label.model import AigcLabel
from synthguard.labeling import ExistingPolicy, label_media
from synthguard.media import Media

SUPPORTED = ("jpeg", "png", "webp", "gif", "tiff")
"""Formats whose pixels Pillow both reads and writes and whose carrier holds the metadata label."""
WEBP_LOSSY_QUALITY = 90
"""libwebp quality for a lossy WebP too large or animated for the size-matching search."""
WEBP_SEARCH_MAX_PIXELS = 8_000_000
"""Above this a lossy WebP is re-encoded at WEBP_LOSSY_QUALITY without searching."""
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "tiff": "TIFF"}
# EXIF orientation -> (transpose to the visual orientation, transpose back to the stored one).
_ORIENT: dict[int, tuple[Image.Transpose, Image.Transpose]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_LEFT_RIGHT),
    3: (Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_180),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.FLIP_TOP_BOTTOM),
    5: (Image.Transpose.TRANSPOSE, Image.Transpose.TRANSPOSE),
    6: (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90),
    7: (Image.Transpose.TRANSVERSE, Image.Transpose.TRANSVERSE),
    8: (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270),
}
_IJG_LUMA = np.array(  # the example luminance table of ITU-T T.81 Annex K, which libjpeg scales by quality
    [
        *(16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56),
        *(14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92),
        *(49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
    ],
    dtype=np.float64,
)
_DEFAULT_STYLE = LabelStyle()


@dataclass(frozen=True)
class ImageLabelResult:
    """The labeled image bytes and what was drawn and written."""

    data: bytes
    format: str
    wording: str
    position: Position
    box: tuple[int, int, int, int]
    measured_glyph_height_px: int
    shortest_side: int
    measured_height_pct: float
    scheme: Scheme
    contrast: float
    frames: int
    orientation: int
    metadata_label: AigcLabel
    jpeg_quality: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (without the bytes)."""
        return {
            "format": self.format,
            "wording": self.wording,
            "position": self.position.value,
            "box": list(self.box),
            "measured_glyph_height_px": self.measured_glyph_height_px,
            "shortest_side": self.shortest_side,
            "measured_height_pct": round(self.measured_height_pct, 3),
            "scheme": self.scheme.value,
            "contrast": round(self.contrast, 2),
            "frames": self.frames,
            "orientation": self.orientation,
            "jpeg_quality": self.jpeg_quality,
            "metadata_label": self.metadata_label.fields(),
            "notes": list(self.notes),
        }


def estimate_jpeg_quality(quantization: dict[int, Sequence[int]]) -> int | None:
    """The IJG quality (1-100) whose scaled luminance table is closest to the file's first table."""
    table = quantization.get(0)
    if table is None or len(table) != 64:
        return None
    actual = np.asarray(table, dtype=np.float64)
    best, best_err = 50, float("inf")
    for q in range(1, 101):
        scale = 5000 / q if q < 50 else 200 - 2 * q
        ref = np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)
        err = float(np.abs(np.sort(ref) - np.sort(actual)).sum())  # order-free: natural or zigzag alike
        if err < best_err:
            best, best_err = q, err
    return best


def strip_exif_thumbnail(raw: bytes) -> bytes:
    """EXIF bytes without the IFD1 thumbnail: an unlabeled rendition of the picture must not ride along.

    The thumbnail bytes are zeroed and IFD0's next-IFD link cleared, so no other offset moves. EXIF that does
    not parse is returned unchanged (it is carried as found, like any other metadata we do not understand).
    """
    prefix = exif_format.EXIF_PREFIX if raw.startswith(exif_format.EXIF_PREFIX) else b""
    body = raw[len(prefix) :]
    try:
        tiff = exif_format.parse(body)
        ifd0 = tiff.ifd(tiff.first_offset())
        if not ifd0.next_offset:
            return raw
        ifd1 = tiff.ifd(ifd0.next_offset)
        out = bytearray(body)
        where, length = ifd1.get(0x0201), ifd1.get(0x0202)
        if where is not None and length is not None:
            start, size = tiff.ints(where)[0], tiff.ints(length)[0]
            if start > 0 and start + size <= len(out):
                out[start : start + size] = bytes(size)
        offsets, counts = ifd1.get(0x0111), ifd1.get(0x0117)  # an uncompressed thumbnail's strips
        if offsets is not None and counts is not None:
            for start, size in zip(tiff.ints(offsets), tiff.ints(counts), strict=False):
                if start > 0 and start + size <= len(out):
                    out[start : start + size] = bytes(size)
        out[ifd0.next_pos : ifd0.next_pos + tiff.offset_size] = bytes(tiff.offset_size)
    except SynthguardError:
        return raw
    return prefix + bytes(out)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):  # a damaged EXIF block: treat as upright
        return 1
    return value if isinstance(value, int) and value in _ORIENT else 1


def _frames(im: Image.Image) -> list[tuple[Image.Image, dict[str | tuple[int, int], Any]]]:
    out = []
    for frame in ImageSequence.Iterator(im):
        out.append((frame.copy(), dict(frame.info)))
    return out


def _plan_frames(
    visual: list[Image.Image], wording: str, position: Position, margin: int | None, style: LabelStyle, ratio: float
) -> LabelPlan:
    """One plan for every frame: the scheme is chosen from the box's pixels across all frames."""
    size = visual[0].size
    label = render_label(wording, required_glyph_height(size, ratio), style)
    gap = default_margin(size) if margin is None else margin
    xy = place(size, label.size, position, gap)
    x, y = xy
    w, h = label.size
    step = max(1, len(visual) // 32)  # a long animation: sample frames for the colour choice
    greys = np.concatenate([greys_of(f.crop((x, y, x + w, y + h))).ravel() for f in visual[::step]])
    scheme, opacity, contrast = choose_scheme(greys, style)
    if scheme is not label.scheme or opacity != label.opacity:
        label = render_label(wording, label.target_glyph_height_px, replace(style, scheme=scheme), opacity=opacity)
    return LabelPlan(label, size, position, xy, contrast)


def apply_image_label(
    data: bytes,
    *,
    producer: str,
    wording: Wording | str | None = None,
    position: Position | str = Position.BOTTOM_RIGHT,
    margin: int | None = None,
    produce_id: str | None = None,
    signer: SigningKey | None = None,
    style: LabelStyle = _DEFAULT_STYLE,
    min_height_ratio: float = MIN_HEIGHT_RATIO,
    existing: ExistingPolicy = ExistingPolicy.REFUSE,
    name: str | None = None,
) -> ImageLabelResult:
    """Draw the explicit label on every frame, re-encode in the same format, then write the metadata label."""
    words = resolve(wording)
    pos = Position(position)
    media = Media.from_bytes(data, name)
    if media.format not in SUPPORTED:
        raise UnsupportedFormat(f"explicit image labels support {', '.join(SUPPORTED)}, not {media.format}", path=name)
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        frames = _frames(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptInput(f"cannot decode the image: {exc}", path=name) from None
    orientation = _orientation(im)
    to_visual, to_stored = _ORIENT.get(orientation, (None, None))
    visual = [f.transpose(to_visual) if to_visual is not None else f for f, _ in frames]
    plan = _plan_frames(visual, words.text, pos, margin, style, min_height_ratio)
    labeled = [composite_image(v, plan.label.image, plan.xy) for v in visual]
    stored = [v.transpose(to_stored) if to_stored is not None else v for v in labeled]
    for out, (_, info) in zip(stored, frames, strict=True):
        out.info = info
    encoded, quality, notes = _encode(media.format, im, stored, data)
    try:
        result = label_media(Media.from_bytes(encoded, name), producer, produce_id, signer=signer, existing=existing)
    except SynthguardError as exc:
        raise exc.at(name or "<bytes>") from None
    return ImageLabelResult(
        data=result.data,
        format=media.format,
        wording=words.text,
        position=pos,
        box=plan.box,
        measured_glyph_height_px=plan.label.measured_glyph_height_px,
        shortest_side=min(plan.canvas_size),
        measured_height_pct=100.0 * plan.height_ratio,
        scheme=plan.label.scheme,
        contrast=plan.contrast or 0.0,
        frames=len(stored),
        orientation=orientation,
        metadata_label=result.label,
        jpeg_quality=quality,
        notes=notes,
    )


def _encode(
    fmt: str, src: Image.Image, frames: list[Image.Image], original: bytes
) -> tuple[bytes, int | None, tuple[str, ...]]:
    """Encode frames in the source format with its settings, and carry the source's metadata over."""
    encoders: dict[str, Callable[[Image.Image, list[Image.Image], bytes], tuple[bytes, int | None, tuple[str, ...]]]]
    encoders = {"jpeg": _jpeg, "png": _png, "webp": _webp, "gif": _gif, "tiff": _tiff}
    return encoders[fmt](src, frames, original)


def _save(frames: list[Image.Image], fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    if len(frames) > 1:
        frames[0].save(buf, _PIL_FORMAT[fmt], save_all=True, append_images=frames[1:], **params)
    else:
        frames[0].save(buf, _PIL_FORMAT[fmt], **params)
    return buf.getvalue()


def _jpeg(src: Image.Image, frames: list[Image.Image], original: bytes) -> tuple[bytes, int | None, tuple[str, ...]]:
    assert isinstance(src, JpegImagePlugin.JpegImageFile)  # _encode dispatches on the sniffed format
    tables = getattr(src, "quantization", None) or {}
    params: dict[str, Any] = {"qtables": [list(tables[k]) for k in sorted(tables)]} if tables else {"quality": 90}
    sampling = JpegImagePlugin.get_sampling(src)
    if sampling != -1:
        params["subsampling"] = sampling
    if src.info.get("progressive"):
        params["progressive"] = True
    new = _save(frames[:1], "jpeg", **params)
    return _jpeg_transplant(original, new), estimate_jpeg_quality(tables), ()


def _jpeg_transplant(original: bytes, new: bytes) -> bytes:
    """The new image data under the original's APPn and COM segments (the encoder's own Adobe APP14 kept)."""
    old_segs = jpeg.segments(original)
    new_segs = jpeg.segments(new)
    meta = [s for s in old_segs if (0xE0 <= s.marker <= 0xEF and s.marker != 0xEE) or s.marker == 0xFE]
    adobe = [s for s in new_segs if s.marker == 0xEE]
    rest = [s for s in new_segs if not (0xE0 <= s.marker <= 0xEF or s.marker in {0xFE, 0xD8})]
    head = b"\xff\xd8" + b"".join(_without_thumbnail(original, s) for s in meta)
    return head + b"".join(new[s.start : s.end] for s in adobe) + b"".join(new[s.start : s.end] for s in rest)


def _without_thumbnail(data: bytes, seg: jpeg.Segment) -> bytes:
    body = seg.body(data)
    if seg.marker != 0xE1 or not body.startswith(exif_format.EXIF_PREFIX):
        return data[seg.start : seg.end]
    new_body = strip_exif_thumbnail(body)
    return b"\xff\xe1" + struct.pack(">H", len(new_body) + 2) + new_body


_PNG_STRUCTURE = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT"}
_PNG_PALETTE_BOUND = {b"bKGD", b"hIST", b"sBIT"}  # refer to palette indices or bit depth the encoder may change


def _png(src: Image.Image, frames: list[Image.Image], original: bytes) -> tuple[bytes, int | None, tuple[str, ...]]:
    params: dict[str, Any] = {"compress_level": 6}
    if len(frames) > 1:
        params["duration"] = [f.info.get("duration", 0) for f in frames]
        params["loop"] = src.info.get("loop", 0)
        params["disposal"] = [f.info.get("disposal", 0) for f in frames]
        params["blend"] = [f.info.get("blend", 0) for f in frames]
    if "transparency" in frames[0].info:
        params["transparency"] = frames[0].info["transparency"]
    new = _save(frames, "png", **params)
    old_chunks = png.chunks(original)
    first_idat = next(i for i, c in enumerate(old_chunks) if c.type == b"IDAT")
    keep = [c for c in old_chunks if c.type not in _PNG_STRUCTURE and c.type not in _PNG_PALETTE_BOUND]
    before = [c for c in keep if old_chunks.index(c) < first_idat]
    after = [c for c in keep if old_chunks.index(c) > first_idat]
    new_chunks = png.chunks(new)
    body = [png.make_chunk(c.type, c.data) for c in new_chunks if c.type in _PNG_STRUCTURE - {b"IHDR", b"IEND"}]
    out = png.SIGNATURE + png.make_chunk(b"IHDR", new_chunks[0].data)
    out += b"".join(_png_chunk(c) for c in before)
    out += b"".join(body) + b"".join(_png_chunk(c) for c in after)
    return out + png.make_chunk(b"IEND", b""), None, ()


def _png_chunk(chunk: png.Chunk) -> bytes:
    data = strip_exif_thumbnail(chunk.data) if chunk.type == b"eXIf" else chunk.data
    return png.make_chunk(chunk.type, data)


def _webp(src: Image.Image, frames: list[Image.Image], original: bytes) -> tuple[bytes, int | None, tuple[str, ...]]:
    lossless = b"VP8L" in original[12:4096] and b"VP8 " not in original[12:4096]
    params: dict[str, Any] = {"lossless": True, "quality": 100, "exact": True} if lossless else {}
    for key in ("icc_profile", "exif", "xmp"):
        if src.info.get(key):
            params[key] = src.info[key]
    if "exif" in params:
        params["exif"] = strip_exif_thumbnail(params["exif"])
    if len(frames) > 1:
        params["duration"] = [f.info.get("duration", 0) for f in frames]
        params["loop"] = src.info.get("loop", 0)
        if "background" in src.info:
            params["background"] = src.info["background"]
    notes: tuple[str, ...] = ()
    if not lossless:
        params["quality"] = _match_webp_quality(frames, len(original))
        notes = (f"lossy WebP re-encoded at quality {params['quality']} (matched to the input's size)",)
    return _save(frames, "webp", **params), None, notes


def _match_webp_quality(frames: list[Image.Image], target: int) -> int:
    """The libwebp quality whose encoding of the (first) frame comes closest to the input's size, from above.

    libwebp does not record its quality setting; at equal content, equal size is the nearest proxy. Large
    or animated images skip the search (four trial encodes) and use WEBP_LOSSY_QUALITY.
    """
    first = frames[0]
    if len(frames) > 1 or first.width * first.height > WEBP_SEARCH_MAX_PIXELS:
        return WEBP_LOSSY_QUALITY
    lo, hi = 40, 96  # invariant: qualities above hi are known to reach the target size
    while hi - lo > 3:  # four or five trial encodes
        mid = (lo + hi) // 2
        if len(_save([first], "webp", quality=mid)) >= target:
            hi = mid
        else:
            lo = mid + 1
    return hi


def _gif(src: Image.Image, frames: list[Image.Image], original: bytes) -> tuple[bytes, int | None, tuple[str, ...]]:
    params: dict[str, Any] = {"optimize": False}
    if len(frames) > 1:
        params["duration"] = [f.info.get("duration", 0) for f in frames]
        has_alpha = any(f.mode in ("RGBA", "LA", "PA") or "transparency" in f.info for f in frames)
        params["disposal"] = 2 if has_alpha else [f.info.get("disposal", src.disposal_method) for f in frames]  # type: ignore[attr-defined]
    elif "duration" in frames[0].info:
        params["duration"] = frames[0].info["duration"]
    if "loop" in src.info:
        params["loop"] = src.info["loop"]
    if "transparency" in frames[0].info:
        params["transparency"] = frames[0].info["transparency"]
    if "background" in src.info:
        params["background"] = src.info["background"]
    for f in frames:
        f.info.pop("comment", None)  # the original comment blocks are carried over below, once
    new = _save(frames, "gif", **params)
    return _gif_transplant(original, new), None, ()


def _gif_transplant(original: bytes, new: bytes) -> bytes:
    """Insert the original's comment and non-looping application extensions (e.g. XMP) after the new header."""
    old_blocks = gif.blocks(original)
    carried = [
        original[b.start : b.end]
        for b in old_blocks
        if b.kind == gif.EXTENSION
        and (b.label == 0xFE or (b.label == gif.APPLICATION and not b.app_id.startswith(b"NETSCAPE")))
    ]
    new_blocks = gif.blocks(new)
    cut = next(b.start for b in new_blocks[1:] if not (b.kind == gif.EXTENSION and b.app_id.startswith(b"NETSCAPE")))
    return new[:cut] + b"".join(carried) + new[cut:]


_TIFF_STRUCTURE = {
    256,
    257,
    258,
    259,
    262,
    273,
    277,
    278,
    279,
    284,
    317,
    320,
    322,
    323,
    324,
    325,
    338,
    339,
    34665,
    34853,
}


def _tiff(src: Image.Image, frames: list[Image.Image], original: bytes) -> tuple[bytes, int | None, tuple[str, ...]]:
    tags = getattr(src, "tag_v2", None)
    info: dict[int, Any] = {k: v for k, v in dict(tags or {}).items() if k not in _TIFF_STRUCTURE}
    params: dict[str, Any] = {"tiffinfo": info}
    compression = src.info.get("compression")
    if compression and compression != "raw":
        params["compression"] = compression
    if src.info.get("icc_profile"):
        params["icc_profile"] = src.info["icc_profile"]
    exif = src.getexif()
    notes: tuple[str, ...] = ()
    if exif.get_ifd(0x8769):
        notes = ("TIFF EXIF sub-IFD not carried over (Pillow cannot rewrite the pointer)",)
    return _save(frames, "tiff", **params), None, notes


def label_region(result: ImageLabelResult) -> NDArray[np.uint8]:
    """The labeled area of the output's first frame as visually displayed, as an RGB array (for OCR and checks)."""
    im = Image.open(io.BytesIO(result.data))
    _, to_stored = _ORIENT.get(result.orientation, (None, None))
    visual = im.transpose(_ORIENT[result.orientation][0]) if to_stored is not None else im
    return np.asarray(visual.convert("RGB").crop(result.box))
