"""Explicit (visible) labels: wording rules, the shared renderer, images and their detection."""

from __future__ import annotations

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
    "LabelPlan",
    "LabelStyle",
    "Language",
    "Position",
    "RenderedLabel",
    "Scheme",
    "Wording",
    "overlay",
    "place",
    "plan_label",
    "render_label",
    "wording_problems",
]
