"""Web assets for a persistent explicit notice in chat or voice UIs: the <aigc-notice> component and a snippet."""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Literal

from synthguard.errors import InputError
from synthguard.explicit.text import NOTICE_ATTR, NOTICE_CLASS
from synthguard.explicit.wording import Wording, resolve

InterfacePosition = Literal["top", "bottom", "inline"]

COMPONENT_JS = "aigc-notice.js"
"""The dependency-free web component defining <aigc-notice>."""
SNIPPET_CSS = "aigc-notice.css"
"""The stylesheet for the no-JavaScript snippet (class aigc-notice)."""
SNIPPET_HTML = "aigc-notice.html"
"""An example page fragment showing both options."""
ASSETS = (COMPONENT_JS, SNIPPET_CSS, SNIPPET_HTML)
INTERFACE_POSITIONS: tuple[str, ...] = ("top", "bottom", "inline")


def asset_path(name: str) -> Path:
    """The file system path of a packaged web asset (one of ASSETS)."""
    if name not in ASSETS:
        raise InputError(f"unknown web asset {name!r}: use one of {', '.join(ASSETS)}")
    resource = files(__name__).joinpath(name)
    if not isinstance(resource, Path):
        raise InputError(f"web asset {name!r} is not a plain file (zipped install?); use asset_text()")
    return resource


def asset_text(name: str) -> str:
    """The contents of a packaged web asset, for inlining into a page or serving it."""
    if name not in ASSETS:
        raise InputError(f"unknown web asset {name!r}: use one of {', '.join(ASSETS)}")
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def component_html(wording: Wording | str | None = None, *, position: InterfacePosition = "top") -> str:
    """An <aigc-notice> element with a validated, escaped wording (include COMPONENT_JS on the page once)."""
    words = _checked(wording, position)
    return (
        f'<aigc-notice wording="{html.escape(words, quote=True)}" position="{position}">'
        f"{html.escape(words, quote=False)}</aigc-notice>"
    )


def snippet_html(
    wording: Wording | str | None = None, *, position: InterfacePosition = "bottom", inline_css: bool = True
) -> str:
    """The no-JavaScript notice element, preceded by its stylesheet in a <style> element when inline_css."""
    words = _checked(wording, position)
    element = (
        f'<div class="{NOTICE_CLASS}" {NOTICE_ATTR}="{position}" role="note" '
        f'aria-label="{html.escape(words, quote=True)}">{html.escape(words, quote=False)}</div>'
    )
    return f"<style>\n{asset_text(SNIPPET_CSS)}</style>\n{element}" if inline_css else element


def _checked(wording: Wording | str | None, position: str) -> str:
    """The validated wording text; InputError for an unknown position."""
    if position not in INTERFACE_POSITIONS:
        raise InputError(f"unknown interface position {position!r}: use one of {', '.join(INTERFACE_POSITIONS)}")
    return resolve(wording).text
