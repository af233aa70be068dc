"""Explicit (visible) labels: wording rules, the shared renderer, images and their detection."""

from __future__ import annotations

from synthguard.explicit.detect_image import Detection, detect_image_label, detect_label
from synthguard.explicit.image import ImageLabelResult, apply_image_label
from synthguard.explicit.render import (
    Backdrop,
    LabelPlan,
    LabelStyle,
    Position,
    RenderedLabel,
    Scheme,
    overlay,
    place,
    plan_label,
    render_label,
)
from synthguard.explicit.wording import Language, Wording, wording_problems

__all__ = [
    "Backdrop",
    "Detection",
    "ImageLabelResult",
    "LabelPlan",
    "LabelStyle",
    "Language",
    "Position",
    "RenderedLabel",
    "Scheme",
    "Wording",
    "apply_image_label",
    "detect_image_label",
    "detect_label",
    "overlay",
    "place",
    "plan_label",
    "render_label",
    "wording_problems",
]
