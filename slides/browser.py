"""Open built decks in headless Chromium with the network cut, read what they report, take
screenshots.

The deck template (``slides/templates/course_reveal``) writes its state into a hidden
``#course-deck-status`` element once reveal.js and MathJax are done: whether reveal.js
initialised, how many slides it counts, how many formulas MathJax typeset (and which failed),
and every resource that failed to load.

:class:`Browser` starts one Chromium and drives it over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages on file descriptors 3 and 4, no socket), so
checking many decks costs one browser start. The network is cut two ways: Chromium runs in a
new, empty network namespace (``unshare -rn``) where Linux allows it, and it is always told to
resolve no host and to use a proxy that does not exist, so a deck that needs a CDN fails.

Chromium comes from Debian's ``chromium`` package; :func:`ensure_chromium` installs it with
apt-get when it is missing and this process may (root on Debian/Ubuntu).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: executables tried in order (or set CHROMIUM=/path/to/chrome).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: flags that make headless Chromium start quietly on a machine with no network (without the
#: background-networking ones it retries refused connections many times at every start).
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-popup-blocking",  # the speaker view (key S) is a pop-up window
    # belt and braces, also where no network namespace can be made: nothing resolves, no proxy
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
)


#: measures every slide (see Browser.slide_metrics); runs in the deck's page
_MEASURE_SLIDES_JS = r"""
(async function () {
  const notShown = "aside, script, style, .controls, .progress, .slide-number";
  const notProse = notShown + ", h1, h2, h3, h4, h5, h6, table, pre, mjx-container";
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const words = (slide) => {
    let n = 0;
    const walk = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      const el = t.parentElement;
      if (!el.closest(".jp-RenderedMarkdown, .jp-RenderedHTMLCommon") || el.closest(notProse)) continue;
      n += t.textContent.split(/\s+/).filter(w => /[\p{L}\p{N}]/u.test(w)).length;
    }
    return n;
  };
  const out = [];
  for (const slide of Reveal.getSlides()) {
    const at = Reveal.getIndices(slide);
    Reveal.slide(at.h, at.v || 0);
    await frame();
    slide.querySelectorAll(".fragment").forEach(f => f.classList.add("visible", "current-fragment"));
    await frame();
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    for (const el of slide.querySelectorAll("*")) {
      if (el.closest(notShown)) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      box[0] = Math.min(box[0], r.left); box[1] = Math.min(box[1], r.top);
      box[2] = Math.max(box[2], r.right); box[3] = Math.max(box[3], r.bottom);
    }
    const code = Array.from(slide.querySelectorAll(".jp-InputArea pre, .jp-RenderedMarkdown pre"))
      .filter(p => !p.closest(notShown))
      .map(p => p.textContent.replace(/\n+$/, "").split("\n").length);
    const figures = Array.from(slide.querySelectorAll("img, svg"))
      .filter(f => !f.closest("mjx-container, " + notShown) && !(f.parentElement && f.parentElement.closest("svg")))
      .map(f => {
        const r = f.getBoundingClientRect();
        return {width: r.width, height: r.height,
                inside: r.left >= -1 && r.top >= -1 && r.right <= innerWidth + 1 && r.bottom <= innerHeight + 1,
                loaded: f.tagName !== "IMG" || (f.complete && f.naturalWidth > 0)};
      });
    const heading = slide.querySelector("h1, h2, h3, h4");
    const style = getComputedStyle(slide);
    out.push({
      index: at.h + "." + (at.v || 0),
      title: heading ? heading.textContent.replace(/¶$/, "").trim() : "",
      bounds: box.every(Number.isFinite) ? box : [0, 0, 0, 0],
      window: [innerWidth, innerHeight],
      scrolls: /auto|scroll/.test(style.overflowY) && slide.scrollHeight > slide.clientHeight + 1,
      zoom: parseFloat(slide.style.zoom || "1"),
      prose_words: words(slide),
      code_lines: code.reduce((a, b) => a + b, 0),
      figures: figures,
    });
  }
  Reveal.slide(0, 0);
  return out;
})()
"""


class BrowserUnavailable(RuntimeError):
    """No Chromium here and none can be installed; the message says why and what to do."""


@dataclass(frozen=True)
class DeckStatus:
    """What a deck reported from inside the browser (see the module docstring)."""

    reveal_ready: bool
    total_slides: int
    math_typeset: int
    math_errors: list[str] = field(default_factory=list)
    failed_resources: list[str] = field(default_factory=list)
    network_cut_by: str = ""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM", ""), *CANDIDATES):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def install_chromium(timeout_seconds: float = 900) -> str:
    """Install Debian's ``chromium`` package with apt-get and return its path.

    Raises BrowserUnavailable when that is impossible here (no apt-get, not root) or fails.
    """
    apt = shutil.which("apt-get")
    if apt is None:
        raise BrowserUnavailable(
            "Chromium is not installed and this system has no apt-get: install Chromium or "
            "Chrome yourself and set CHROMIUM=/path/to/it."
        )
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise BrowserUnavailable(
            "Chromium is not installed and installing it needs root: run "
            "`sudo apt-get install -y chromium` (or set CHROMIUM=/path/to/chrome)."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"]

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_seconds)

    result = run(install)
    if result.returncode != 0:  # stale or missing package lists: update once, retry
        run([apt, "update", "-q"])
        result = run(install)
    path = find_chromium()
    if result.returncode != 0 or path is None:
        raise BrowserUnavailable(
            "`apt-get install chromium` failed:\n" + (result.stderr or result.stdout)[-2000:]
        )
    return path


def ensure_chromium(install: bool = True) -> str:
    """A Chromium executable: the one installed, else (if ``install``) a fresh apt install."""
    path = find_chromium()
    if path:
        return path
    if not install:
        raise BrowserUnavailable("Chromium is not installed (set CHROMIUM=/path/to/chrome).")
    return install_chromium()


def network_cut_prefix() -> tuple[list[str], str]:
    """``unshare -rn`` (a new, empty network namespace) where it works, and how the cut is made."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"], "network namespace (unshare -rn) + Chromium flags"
    return [], "Chromium flags only (no network namespace allowed here)"


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium, offline, driven over the DevTools protocol on a pipe.

    >>> with Browser() as b:                      # doctest: +SKIP
    ...     status = b.deck_status("slides/_build/02_cnn_basics.slides.html")
    ...     b.screenshot("artifacts/slides/02_title.png")

    Args:
        chromium: the executable (default: :func:`ensure_chromium`, which may install it).
        window: viewport in CSS pixels (width, height).
        timeout_seconds: the longest any one step (start, page load, a deck's status) may take.
    """

    def __init__(
        self,
        chromium: str | None = None,
        window: tuple[int, int] = (1280, 720),
        timeout_seconds: float = 60,
    ) -> None:
        self.chromium = chromium or ensure_chromium()
        self.window = window
        self.timeout_seconds = timeout_seconds
        self.network_cut_by = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._session = ""
        self._speaker = ""

    # -- process and protocol ---------------------------------------------------------------

    def __enter__(self) -> Browser:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start Chromium and open one blank page to work in."""
        prefix, self.network_cut_by = network_cut_prefix()
        self._profile = tempfile.TemporaryDirectory(prefix="course-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's ends move to fds >= 10, so wiring them to 3 and 4 cannot clobber them
        to_browser_r, from_browser_w = (_high_fd(to_browser_r), _high_fd(from_browser_w))
        # Chromium reads commands on fd 3 and writes replies on fd 4: a tiny Python wires them.
        wire = "import os,sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
        wire += "os.execv(sys.argv[3], sys.argv[3:])"
        cmd = [
            *prefix, sys.executable, "-c", wire, str(to_browser_r), str(from_browser_w),
            self.chromium, *HEADLESS_FLAGS,
            f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
            f"--window-size={self.window[0]},{self.window[1]}", "about:blank",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd,
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": self._profile.name},
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._attach(target)
        self.send("Page.enable", session=self._session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=self._session,
            width=self.window[0],
            height=self.window[1],
            deviceScaleFactor=1,
            mobile=False,
        )

    def close(self) -> None:
        """Quit Chromium and remove its temporary profile."""
        if self._proc is not None:
            try:
                self.send("Browser.close", timeout_seconds=5)
            except Exception:  # already gone: nothing to close
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(left, 0))
            chunk = os.read(self._from_browser, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError(self._failure("Chromium stopped answering"))
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _failure(self, what: str) -> str:
        err = ""
        if self._proc is not None and self._proc.poll() is not None and self._proc.stderr:
            err = self._proc.stderr.read().decode(errors="replace")[-3000:]
        return f"{what} (Chromium {self.chromium}). {err}".strip()

    def send(
        self,
        method: str,
        session: bool = False,
        timeout_seconds: float | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Send one DevTools command and return its result (events on the way are kept)."""
        if self._proc is None:
            raise RuntimeError("the browser is not running: use `with Browser() as b:`")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout_seconds or self.timeout_seconds)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _wait_event(self, method: str, deadline: float) -> None:
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method:
                    del self._events[: i + 1]
                    return
            self._events.append(self._read_message(deadline))

    def _attach(self, target_id: str) -> str:
        return self.send("Target.attachToTarget", targetId=target_id, flatten=True)["sessionId"]

    def evaluate(self, expression: str, session: str | None = None) -> Any:
        """Value of a JavaScript expression in the deck's page (or another attached ``session``)."""
        result = self.send(
            "Runtime.evaluate",
            session=session or self._session,
            expression=expression,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    # -- decks ---------------------------------------------------------------------------------

    def open(self, deck: str | Path) -> None:
        """Load a deck from its file path and wait for its load event."""
        deck = Path(deck).resolve()
        if not deck.is_file():
            raise FileNotFoundError(f"no deck at {deck}: build it with `python -m slides.build`")
        self._events.clear()
        self._speaker = ""
        deadline = time.monotonic() + self.timeout_seconds
        self.send("Page.navigate", session=self._session, url=deck.as_uri())
        self._wait_event("Page.loadEventFired", deadline)

    def deck_status(self, deck: str | Path) -> DeckStatus:
        """Open ``deck`` and return what it reported once reveal.js and MathJax were done.

        Raises RuntimeError when it reports nothing within ``timeout_seconds``.
        """
        self.open(deck)
        probe = (
            "(function(){var s=document.getElementById('course-deck-status');"
            "return s ? Object.assign({}, s.dataset) : null;})()"
        )
        deadline = time.monotonic() + self.timeout_seconds
        data = self.evaluate(probe)
        while not (data and data.get("done") == "true"):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{Path(deck).name}: the deck never reported its status (reveal.js or MathJax "
                    f"did not finish in {self.timeout_seconds} s): {data}"
                )
            time.sleep(0.1)
            data = self.evaluate(probe)
        return DeckStatus(
            reveal_ready=data.get("revealReady") == "true",
            total_slides=int(data.get("totalSlides") or -1),
            math_typeset=int(data.get("mathTypeset") or 0),
            math_errors=json.loads(data.get("mathErrors") or "[]"),
            failed_resources=json.loads(data.get("failedResources") or "[]"),
            network_cut_by=self.network_cut_by,
        )

    def slide_metrics(self) -> list[dict[str, Any]]:
        """Measure every slide of the open deck as the audience sees it, fragments shown.

        Per slide (reveal.js order): ``index`` ("h.v"), ``title`` (its first heading),
        ``bounds`` (the box round everything shown, in CSS px of the window: left, top, right,
        bottom), ``window`` (width, height), ``scrolls`` (the slide scrolls), ``zoom`` (how far
        the deck shrank it to fit), ``prose_words`` (words of paragraphs and list items: not
        headings, tables, code, output or formulas), ``code_lines`` (lines of code cells and
        Markdown code blocks) and ``figures`` (per image or SVG: width, height, whether it lies
        inside the window and has loaded). Speaker notes are not measured.
        """
        return self.send(
            "Runtime.evaluate",
            session=self._session,
            expression=_MEASURE_SLIDES_JS,
            awaitPromise=True,
            returnByValue=True,
            timeout_seconds=max(self.timeout_seconds, 300),
        )["result"]["value"]

    def screenshot(self, png: str | Path, slide: tuple[int, int] | None = None) -> Path:
        """Save a PNG of the open deck, at reveal.js slide ``(h, v)`` if given; returns its path."""
        if slide is not None:
            self.evaluate(f"Reveal.slide({int(slide[0])}, {int(slide[1])}), true")
            time.sleep(0.3)  # let the (transition-free) slide change paint
        data = self.send("Page.captureScreenshot", session=self._session, format="png")["data"]
        png = Path(png)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(data))
        return png

    def speaker_notes(self, slide: tuple[int, int], fragment: int | None = None) -> str:
        """The notes the speaker view (key ``S``) shows at reveal.js slide ``(h, v)``.

        Opens the speaker view of the open deck the first time (a pop-up window, offline like
        the deck). Notes written after a fragment cell belong to that fragment: pass its index
        to see them. Returns "" when the slide has no notes.
        """
        if not self._speaker:
            self.evaluate('Reveal.getPlugin("notes").open(), true')
            deadline = time.monotonic() + self.timeout_seconds
            while not self._speaker:
                views = [
                    t["targetId"]
                    for t in self.send("Target.getTargets")["targetInfos"]
                    if t.get("title") == "reveal.js - Speaker View"
                ]
                if views:
                    self._speaker = self._attach(views[-1])
                elif time.monotonic() > deadline:
                    raise RuntimeError("the speaker view did not open")
                else:
                    time.sleep(0.1)
            time.sleep(1.0)  # the speaker view connects to the deck twice a second
        where = f"{int(slide[0])}, {int(slide[1])}" + ("" if fragment is None else f", {fragment}")
        self.evaluate(f"Reveal.slide({where}), true")
        time.sleep(0.5)  # the deck posts its new state to the speaker view
        probe = (
            "(function(){var n=document.querySelector('.speaker-controls-notes');"
            "return n.classList.contains('hidden') ? '' : n.querySelector('.value').innerText;})()"
        )
        text, deadline = "", time.monotonic() + 2
        while not text.strip() and time.monotonic() < deadline:
            text = self.evaluate(probe, self._speaker) or ""
            time.sleep(0.2)
        return text.strip()


def deck_status(deck: str | Path, chromium: str | None = None) -> DeckStatus:
    """Open one deck in a fresh offline Chromium and return its status (see :class:`Browser`)."""
    with Browser(chromium) as b:
        return b.deck_status(deck)


def screenshot(
    deck: str | Path,
    png: str | Path,
    slide: tuple[int, int] = (0, 0),
    chromium: str | None = None,
    window: tuple[int, int] = (1280, 720),
) -> Path:
    """Save a PNG of one slide of ``deck`` (default the title slide), rendered offline."""
    with Browser(chromium, window) as b:
        b.deck_status(deck)
        return b.screenshot(png, slide)
