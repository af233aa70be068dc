"""Explicit image label: overlay cost per megapixel, beside Pillow's plain ImageDraw.text on the same image."""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from synthguard.explicit import apply_image_label, overlay, plan_label, render
from synthguard.explicit.render import font

PRODUCER = "001191440300708461136T1XGW3"
SIZES = [(640, 480), (1280, 960), (1920, 1080), (3000, 2000), (4000, 3000), (6000, 4000)]


def scene(width: int, height: int) -> Image.Image:
    """A textured RGB image of the given size."""
    rng = np.random.default_rng(width)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


def clear_caches() -> None:
    """Forget rendered labels, font sizes and glyph measurements (a process's first label)."""
    for cached in (render._render_cached, render.glyph_ink_height, render.font):
        cached.cache_clear()


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of fn in milliseconds."""
    fn()  # warm caches (font sizes, glyph measurements)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--pipeline", action="store_true", help="also time apply_image_label on a JPEG (encode included)"
    )
    args = parser.parse_args()
    print(
        "| size | MP | synthguard ms | ms/MP | ImageDraw.text ms | ms/MP | ratio | first call ms (cold caches) |"
        + (" JPEG pipeline ms/MP |" if args.pipeline else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if args.pipeline else ""))
    for width, height in SIZES:
        image = scene(width, height)
        mp = width * height / 1e6
        repeats = args.repeats if mp < 5 else max(3, args.repeats // 2)

        def ours(image: Image.Image = image) -> Image.Image:
            plan = plan_label(image.size, "AI生成", background=image)
            return overlay(image, plan)

        plan = plan_label(image.size, "AI生成", background=image)

        def peer(
            image: Image.Image = image, xy: tuple[int, int] = plan.xy, size: int = plan.label.font_size
        ) -> Image.Image:
            out = image.copy()
            ImageDraw.Draw(out).text(xy, "AI生成", font=font(size), fill=(255, 255, 255))
            return out

        t_ours, t_peer = timed(ours, repeats), timed(peer, repeats)
        cold = []
        for _ in range(3):
            clear_caches()
            start = time.perf_counter()
            ours()
            cold.append((time.perf_counter() - start) * 1000)
        t_cold = statistics.median(cold)
        row = (
            f"| {width}x{height} | {mp:.1f} | {t_ours:.1f} | {t_ours / mp:.2f} | {t_peer:.1f} | {t_peer / mp:.2f} "
            f"| {t_ours / t_peer:.2f} | {t_cold:.1f} |"
        )
        if args.pipeline:
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=90)
            data = buf.getvalue()
            t_full = timed(lambda data=data: apply_image_label(data, producer=PRODUCER), max(1, repeats // 2))
            row += f" {t_full / mp:.1f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
