"""Headless Chromium for the report tests: Debian's ``chromium`` (``.ci/run`` installs it; tests
that need it skip with :data:`SKIP_REASON` when it is absent)."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "Debian's chromium is not installed (.ci/run installs it: apt-get install -y chromium)"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
]  # fmt: skip
#: Records, once the page has loaded: the document's scroll size, the elements reaching past the
#: viewport's right edge, the first section's id and the bottom of the element ``#reading``.
_MEASURE = """
<script>
window.addEventListener("load", () => {
  const d = document.documentElement, wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const right = el.getBoundingClientRect().right;
    if (right > window.innerWidth + 0.5) wide.push(el.tagName + (el.id ? "#" + el.id : "") + ":" + Math.round(right));
  }
  const reading = document.getElementById("reading"), first = document.querySelector("section");
  document.body.setAttribute("data-measure", JSON.stringify({
    scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight, innerWidth: window.innerWidth,
    wide: wide.slice(0, 20), firstSection: first ? first.id : null,
    readingBottom: reading ? reading.getBoundingClientRect().bottom : null}));
});
</script>
"""


def run(args: list[str], profile: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """Chromium with the test flags and a fresh ``--user-data-dir`` under ``profile``."""
    assert CHROMIUM is not None, SKIP_REASON
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def measure(page: Path, work: Path, width: int = 1280, height: int = 800) -> dict[str, Any]:
    """Load a copy of ``page`` at ``width`` x ``height`` and return what :data:`_MEASURE` records."""
    probe = work / f"measure-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = run([f"--window-size={width},{height}", "--dump-dom", probe.as_uri()], work / "profile-measure")
    assert dom.returncode == 0, dom.stderr[-2000:]
    value = dom.stdout.split('data-measure="', 1)[1].split('"', 1)[0]
    return json.loads(html.unescape(value))
