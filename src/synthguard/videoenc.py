"""The video encoder settings every re-encoding pipeline shares: same size, rate, time base, colour, quality."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def encoder_like(dst: Any, vin: Any, *, vp9: bool, crf: float, preset: str, pix_fmt: str = "yuv420p") -> Any:
    """Add an H.264 (or VP9) stream to dst that mirrors the input stream's geometry, timing and colour tags."""
    rate = vin.average_rate or vin.guessed_rate or Fraction(25, 1)
    vout = dst.add_stream("libvpx-vp9" if vp9 else "libx264", rate=rate)
    cc, icc = vout.codec_context, vin.codec_context
    vout.width, vout.height = icc.width, icc.height
    vout.pix_fmt = pix_fmt
    vout.time_base = vin.time_base
    cc.time_base = vin.time_base
    cc.framerate = rate
    if icc.sample_aspect_ratio:
        cc.sample_aspect_ratio = icc.sample_aspect_ratio
    for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(cc, attr, getattr(icc, attr))
    if vp9:
        cc.options = {"crf": f"{crf:g}", "b": "0", "cpu-used": "5", "row-mt": "1", "deadline": "good"}
    else:
        cc.options = {"crf": f"{crf:g}", "preset": preset}
    vout.metadata.update({k: v for k, v in vin.metadata.items() if k.lower() not in ("encoder", "rotate")})
    return vout
