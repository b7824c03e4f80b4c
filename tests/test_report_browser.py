"""The report in a real browser: headless Chromium with networking off loads it with no failed request,
no console error, and shows the PRISMA flow and the forest plots; a screenshot is saved."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
)
# Injected into a copy of the page: records failed loads and console errors, then writes its findings.
CHECKER = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)))), true);
const __ce = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); __ce(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const out = {
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    resources: performance.getEntriesByType('resource').map(e => e.name),
    prisma: !!document.querySelector('#prisma-figure svg'),
    forest: imgs.filter(i => i.alt.startsWith('Forest plot') && i.naturalWidth > 0).length,
    errors: window.__errors,
  };
  const pre = document.createElement('pre'); pre.id = 'lr-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture()
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed; install it with `apt-get install chromium` (.ci/run does)")
    return CHROMIUM


def test_report_loads_cleanly_in_headless_chromium(chromium: str, default_review: Path, tmp_path: Path) -> None:
    report_dir = tmp_path / "results" / "report"
    shutil.copytree(default_review / "results" / "report", report_dir)
    html = (report_dir / "index.html").read_text(encoding="utf-8")
    checked = report_dir / "checked.html"
    checked.write_text(html.replace("<head>", "<head>\n" + CHECKER, 1), encoding="utf-8")

    proc = _chromium("--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), tmp=tmp_path)
    match = re.search(r'<pre id="lr-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading in chromium:\n{proc.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert found["errors"] == [], found["errors"]
    assert found["broken"] == [], f"images that failed to load: {found['broken']}"
    assert found["resources"] == [], f"the report fetched: {found['resources']}"
    assert found["prisma"], "the PRISMA flow diagram is not in the page"
    assert found["forest"] >= 1 and found["images"] >= found["forest"] + 1

    shot = report_dir / "screenshot.png"
    proc = _chromium("--window-size=1200,2400", "--hide-scrollbars", f"--screenshot={shot}", (report_dir / "index.html").as_uri(), tmp=tmp_path)
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000, proc.stderr[-2000:]


# Injected into a copy of the page: the tables, figures and code blocks that reach past the window's right edge.
WIDTH_CHECKER = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table, figure, pre, img, svg')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => `${(e.closest('section') || {}).id}: ${e.tagName.toLowerCase()} ${Math.round(e.getBoundingClientRect().width)} px`);
  const pre = document.createElement('pre'); pre.id = 'lr-width';
  pre.textContent = JSON.stringify({width, scroll: document.documentElement.scrollWidth, wide});
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.parametrize("window", [720, 500])
def test_report_fits_a_printed_page_and_a_narrow_window(chromium: str, default_review: Path, tmp_path: Path, window: int) -> None:
    """An A4 or Letter page printed from a browser is about 720 px wide: a table wider than that is
    cut off at the right edge of the paper (the included-studies table was 1154 px wide, so its
    Registration and Reports columns were lost in print). Long words wrap instead."""
    html = (default_review / "results" / "report" / "index.html").read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>\n" + WIDTH_CHECKER, 1), encoding="utf-8")
    proc = _chromium(f"--window-size={window},1000", "--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), tmp=tmp_path)
    match = re.search(r'<pre id="lr-width">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading in chromium:\n{proc.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert found["width"] <= window and found["width"] > window - 40, found
    assert found["wide"] == [], f"wider than a {found['width']} px page: {found['wide']}"
    assert found["scroll"] <= found["width"], found
