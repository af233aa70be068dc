"""The <aigc-notice> web component in real headless Chromium, and the Python asset helpers."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from synthguard.errors import InputError, LabelInvalid
from synthguard.explicit.detect_text import detect_text
from synthguard.explicit.web import (
    ASSETS,
    COMPONENT_JS,
    SNIPPET_CSS,
    asset_path,
    asset_text,
    component_html,
    snippet_html,
)
from synthguard.explicit.wording import wording_problems

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>chat</title>
<script>
  window.warnings = [];
  const warn = console.warn.bind(console);
  console.warn = (...args) => { window.warnings.push(args.join(" ")); warn(...args); };
</script>
<style>
  /* A hostile page: it tries to hide every notice. */
  aigc-notice { display: none !important; visibility: hidden !important; opacity: 0 !important; }
  body { margin: 0; font: 16px sans-serif; background: #ffffff; }
  main { padding: 8px; }
</style>
<script src="aigc-notice.js"></script>
</head><body>
<aigc-notice id="ok" wording="人工智能生成" position="top">人工智能生成</aigc-notice>
<main><p>用户：你好</p><p>助手：你好，有什么可以帮你？</p></main>
<aigc-notice id="bad" wording="AI" position="bottom">AI</aigc-notice>
<aigc-notice id="hidden" hidden style="display: none !important"></aigc-notice>
</body></html>
"""

STATE = """
const out = {};
for (const el of document.querySelectorAll("aigc-notice")) {
  const note = el.shadowRoot && el.shadowRoot.querySelector('[role="note"]');
  const host = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  out[el.id] = {
    text: note ? note.textContent : null,
    label: note ? note.getAttribute("aria-label") : null,
    compliant: el.compliant,
    display: host.display, visibility: host.visibility, opacity: host.opacity,
    height: rect.height, top: rect.top,
    background: note ? getComputedStyle(note).backgroundColor : null,
    color: note ? getComputedStyle(note).color : null,
  };
}
out.warnings = window.warnings;
out.defined = !!customElements.get("aigc-notice");
return out;
"""


class _Quiet(SimpleHTTPRequestHandler):
    """Serve files without logging every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local http.server on 127.0.0.1 serving the test page beside the packaged component."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(asset_path(COMPONENT_JS), root / COMPONENT_JS)
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium through the system chromedriver (Selenium Manager is never asked to download)."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=800,600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_component_renders_and_refuses_a_bare_ai(browser: Any, site: str, tmp_path: Path) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]}
    )
    browser.get(site)
    state = browser.execute_script(STATE)
    assert state["defined"] is True

    ok = state["ok"]
    assert (ok["text"], ok["label"], ok["compliant"]) == ("人工智能生成", "人工智能生成", True)
    assert ok["top"] == 0

    bad = state["bad"]
    assert (bad["text"], bad["label"], bad["compliant"]) == ("AI生成", "AI生成", False)
    assert [w for w in state["warnings"] if 'refused wording "AI"' in w and '"AI生成"' in w]

    # The page's !important rules, the hidden attribute and an inline style do not hide any notice.
    for name in ("ok", "bad", "hidden"):
        el = state[name]
        assert (el["display"], el["visibility"], el["opacity"]) == ("block", "visible", "1"), name
        assert el["height"] > 10, name
    assert ok["background"] == "rgb(255, 244, 194)" and ok["color"] == "rgb(17, 17, 17)"

    shot = tmp_path / "aigc-notice.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        # The top notice's yellow plate is on screen at the very top of the page.
        assert rgb.getpixel((rgb.width // 2, 4)) == (255, 244, 194)
        counts = {colour: n for n, colour in rgb.getcolors(maxcolors=rgb.width * rgb.height) or []}
        assert counts.get((255, 244, 194), 0) > 2000


def test_component_follows_the_dark_colour_scheme(browser: Any, site: str) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    try:
        browser.get(site)
        ok = browser.execute_script(STATE)["ok"]
        assert ok["background"] == "rgb(28, 28, 28)" and ok["color"] == "rgb(255, 255, 255)"
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


@pytest.mark.parametrize(
    "wording",
    [
        "AI生成",
        "人工智能生成合成",
        "AI-generated",
        "AI生成 AI-generated",
        "ＡＩ生成",
        "AI",
        "生成",
        "PAID生成",
        "ai生成",
        "",
        "AI\n生成",
    ],
)
def test_client_rule_matches_the_python_rule(browser: Any, site: str, wording: str) -> None:
    if browser.current_url != site:
        browser.get(site)
    problems = browser.execute_script(
        "return customElements.get('aigc-notice').wordingProblems(arguments[0]);", wording
    )
    assert bool(problems) == bool(wording_problems(wording))


def test_component_attribute_change_rerenders(browser: Any, site: str) -> None:
    browser.get(site)
    text = browser.execute_script(
        "const el = document.getElementById('ok'); el.setAttribute('wording', 'AI合成');"
        "return el.shadowRoot.querySelector('[role=note]').textContent;"
    )
    assert text == "AI合成"


def test_python_helpers() -> None:
    assert all(asset_path(name).is_file() for name in ASSETS)
    assert "customElements.define" in asset_text(COMPONENT_JS)
    tag = component_html('AI生成 "beta"', position="bottom")
    assert tag == '<aigc-notice wording="AI生成 &quot;beta&quot;" position="bottom">AI生成 "beta"</aigc-notice>'
    snippet = snippet_html("人工智能生成", position="top")
    assert snippet.startswith("<style>") and asset_text(SNIPPET_CSS) in snippet
    assert detect_text(snippet_html(inline_css=False) + "<p>正文</p>")["notices"][0]["form"] == "marked-element"
    with pytest.raises(LabelInvalid):
        component_html("AI")
    with pytest.raises(InputError):
        snippet_html(position="left")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        asset_path("../text.py")
