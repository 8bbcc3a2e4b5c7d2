#!/usr/bin/env python3
"""Open every page of the built book in headless Chromium with no network, and check what a reader sees.

    python .ci/browser_check.py [_build/html] [--screenshots _build/screenshots] [--serve]

Every HTML page of the site (folders whose name starts with ``_``, such as ``_static`` and
``_sources``, are not pages) is opened as a ``file://`` address, the way a lecturer opens a copied
site, or with ``--serve`` from a small HTTP server on 127.0.0.1. The network is off: Chromium
resolves no host name (``--host-resolver-rules``, ``--no-proxy-server``) and, for ``file://``,
DevTools also emulates an offline browser, so whatever a page takes from a CDN fails here as it
would in a lecture hall. Each page must show:

- math rendered: every ``.math`` element (Sphinx's output of ``$...$``, ``$$...$$`` and amsmath)
  holds MathJax's ``mjx-container``, MathJax reports no TeX error (``mjx-merror``), and no raw
  ``\\(``, ``\\[``, ``$$``, ``\\begin{`` or ``$...\\cmd...$`` is left in the visible text (code
  blocks aside);
- every image loaded (``naturalWidth > 0``);
- no console error: uncaught exceptions, ``console.error`` and failed local loads are failures;
- no request to another host. Such requests are listed apart, as "blocked external request",
  because they say what the page wanted from a network. None is tolerated: the site carries its
  MathJax and widget renderer (see _config.yml). ``--allow-external REGEX`` would tolerate the
  addresses it matches (still listed), should a page ever need one on purpose;
- every local link resolves: the file exists, inside the site, and its ``#anchor`` is an id or
  name on the target page;
- saved widget state, where a page has some, rendered by the vendored embed.js (widget views with
  no saved state render nowhere and are only counted);
- every explorer's static form (``.facedid-explorer``, :mod:`facedid_lib.viz.static_explorer`) moves:
  its controls are shown (its script ran), a slider moved with the keyboard (arrow key) changes the
  image and the printed values, the printed values are the shown view's parameters and every
  control shows them, and the image's alt text names every parameter. The first explorer of each
  page is photographed before and after (``<page>__explorer-before.png`` and ``-after.png``).

Links to other sites are not followed. A screenshot of each page goes to ``--screenshots``
(full page, PNG, cut at 12,000 pixels). Exit status: 0 when every page passed, 1 when one
failed, 2 when Chromium or ChromeDriver is missing (Debian: ``apt-get install chromium
chromium-driver``).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-quic",
    # the network is off: no host name resolves, and no proxy could resolve one instead
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]

WINDOW = (1280, 900)
SCREENSHOT_MAX_HEIGHT = 12000
PAGE_TIMEOUT_S = 60

# Waits (in the page) until it has loaded, its images are complete, MathJax has typeset, the
# saved widget state is rendered and the fonts are in; resolves with what it waited for.
WAIT_JS = r"""
const done = arguments[arguments.length - 1];
const deadline = Date.now() + arguments[0] * 1000;
const sleep = ms => new Promise(r => setTimeout(r, ms));
const left = () => Math.max(0, deadline - Date.now());
const timeout = p => Promise.race([p, sleep(left())]);
function imagesComplete() {
  for (const img of document.images) {
    if (img.loading === 'lazy') img.loading = 'eager';
    if (!img.complete) return false;
  }
  return true;
}
function widgetViews() {
  const known = new Set();
  for (const s of document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]')) {
    try { Object.keys(JSON.parse(s.textContent).state || {}).forEach(k => known.add(k)); } catch (e) {}
  }
  let views = 0, withState = 0, rendered = 0;
  for (const s of document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')) {
    views += 1;
    let id = null;
    try { id = JSON.parse(s.textContent).model_id; } catch (e) {}
    if (!known.has(id)) continue;
    withState += 1;
    const area = s.previousElementSibling;
    if (area && area.classList.contains('widget-subarea') && area.childElementCount > 0) rendered += 1;
  }
  return {views, withState, rendered};
}
(async () => {
  const waited = [];
  while ((document.readyState !== 'complete' || !imagesComplete()) && left() > 0) await sleep(50);
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    waited.push('MathJax');
    try { await timeout(mj.startup.promise); } catch (e) {}
  }
  let w = widgetViews();
  // a renderer ran (embed.js sets the flag; RequireJS for embed-amd.js): give it 15 s at most
  if (w.withState > 0 && (window._jupyter_widget_embedder || window.requirejs)) {
    waited.push('widgets');
    const until = Math.min(deadline, Date.now() + 15000);
    while (w.rendered < w.withState && Date.now() < until) { await sleep(100); w = widgetViews(); }
  }
  if (document.fonts) { try { await timeout(document.fonts.ready); } catch (e) {} }
  await sleep(150);  // late errors (a font, a rejected promise) reach the console
  done({waited, widgets: w, timedOut: left() === 0});
})();
"""

# One explorer's state as the reader sees it: the image, the printed values, each control's value.
EXPLORER_JS = r"""
const root = arguments[0];
const data = JSON.parse(root.querySelector('script.facedid-explorer-data').textContent);
const img = root.querySelector('img.facedid-explorer-view');
const said = root.querySelector('.facedid-explorer-values');
const controls = {};
for (const el of root.querySelectorAll('[data-param]')) {
  const stops = data.stops[el.dataset.param];
  controls[el.dataset.param] = el.type === 'range' ? stops[Number(el.value)]
    : el.type === 'checkbox' ? el.checked : stops[el.selectedIndex];
}
const shown = root.querySelector('.facedid-explorer-controls');
return {src: img.getAttribute('src'), alt: img.alt, view: img.dataset.view, text: said.textContent,
        values: JSON.parse(said.dataset.values || 'null'), controls, order: data.order,
        viewValues: data.views[Number(img.dataset.view)].values, nViews: data.views.length,
        visible: !shown.hidden && shown.getClientRects().length > 0, complete: img.complete && img.naturalWidth > 0};
"""

# What the reader sees: math, raw TeX in the visible text, images, links, ids.
FACTS_JS = r"""
const skip = 'script, style, pre, code, textarea, .highlight, mjx-container, mjx-assistive-mml, .MathJax';
const raw = [];
const patterns = [/\\\(|\\\)/, /\\\[|\\\]/, /\$\$/, /\\begin\{/, /\$(?=\S)[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$/];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  if (!el || el.closest(skip)) continue;
  const text = node.textContent;
  if (!patterns.some(p => p.test(text))) continue;
  if (el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden') continue;
  raw.push(text.trim().replace(/\s+/g, ' ').slice(0, 120));
}
const math = Array.from(document.querySelectorAll('.math')).map(el => ({
  rendered: el.querySelector('mjx-container') !== null || el.tagName.toLowerCase() === 'mjx-container',
  text: el.textContent.trim().replace(/\s+/g, ' ').slice(0, 120),
}));
const merrors = Array.from(document.querySelectorAll('mjx-merror')).map(
  e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
const images = Array.from(document.images).map(img => ({
  src: img.getAttribute('src') || '', url: img.currentSrc || img.src,
  ok: img.complete && img.naturalWidth > 0,
}));
const links = Array.from(document.querySelectorAll('a[href]')).map(a => [a.getAttribute('href'), a.href]);
const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id).concat(
  Array.from(document.querySelectorAll('a[name]')).map(a => a.name));
return {
  title: document.title, url: location.href, raw, math, merrors, images, links, ids,
  mathjax: (window.MathJax && window.MathJax.version) || null,
  mjx: document.querySelectorAll('mjx-container').length,
  height: Math.ceil(Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)),
};
"""


@dataclasses.dataclass
class PageReport:
    page: str
    url: str = ""
    seconds: float = 0.0
    failures: list = dataclasses.field(default_factory=list)
    external: list = dataclasses.field(default_factory=list)  # (url, reason, tolerated)
    notes: list = dataclasses.field(default_factory=list)
    summary: str = ""
    screenshot: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and all(tolerated for _, _, tolerated in self.external)


def chromium_paths() -> tuple[str | None, str | None]:
    """(browser, chromedriver): Debian's binaries (the launcher script's flags are not wanted)."""
    browser = next((p for p in ("/usr/lib/chromium/chromium",) if os.access(p, os.X_OK)), None)
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/lib/chromium/chromedriver",) if os.access(p, os.X_OK)), None)
    return browser, driver


def make_driver(offline: bool = True):
    """A headless Chromium under ChromeDriver with no network; ``offline`` also has DevTools
    refuse every network request (for file:// pages; a served site needs loopback)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = chromium_paths()
    if not browser or not chromedriver:
        raise FileNotFoundError("Chromium or ChromeDriver not found (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS + [f"--window-size={WINDOW[0]},{WINDOW[1]}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit driver path: Selenium Manager (which would download one) is not run
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S + 10)
    if offline:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    return driver


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (name == "name" and tag == "a")):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def page_ids(path: Path) -> frozenset:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def _is_local(url: str, base_host: str | None) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about", "chrome", "devtools", "javascript"):
        return True
    host = (parts.hostname or "").lower()
    return base_host is not None and host in LOCAL_HOSTS


def _url_path(url: str, root: Path, base: str | None) -> Path | None:
    """The file a local address names, or None for one that is not local."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(unquote(parts.path)))
    if base and url.startswith(base):
        return root / unquote(parts.path).lstrip("/")
    return None


def _check_links(links, here: Path, root: Path, here_ids: set, base: str | None) -> list[str]:
    failures, seen = [], set()
    for href, resolved in links:
        if href.startswith("#") and len(href) == 1:
            continue
        parts = urlsplit(resolved)
        if parts.scheme in ("mailto", "javascript", "data", "tel"):
            continue
        target = _url_path(resolved, root, base)
        if target is None:
            continue  # another site: not followed
        key = (str(target), parts.fragment)
        if key in seen:
            continue
        seen.add(key)
        if target.is_dir():
            target = target / "index.html"
        target = target.resolve()
        try:
            in_site = target.relative_to(root).as_posix()
        except ValueError:
            failures.append(f"link leaves the site: {href!r} -> {target}")
            continue
        if not target.is_file():
            failures.append(f"broken link: {href!r} (no file {in_site})")
            continue
        fragment = unquote(parts.fragment)
        if not fragment or fragment.startswith(":~:"):
            continue
        if target == here:
            ids = here_ids
        elif target.suffix in (".html", ".htm"):
            ids = page_ids(target)
        else:
            continue
        if fragment not in ids:
            failures.append(f"broken anchor: {href!r} (no id {fragment!r} in {in_site})")
    return failures


def _drain_logs(driver) -> None:
    for kind in ("browser", "performance"):
        driver.get_log(kind)


def _screenshot(driver, height: int, path: Path) -> None:
    """The whole page (to SCREENSHOT_MAX_HEIGHT): the viewport is made as tall as the page, since
    captureBeyondViewport cut the left of some of the book's pages."""
    height = max(1, min(height, SCREENSHOT_MAX_HEIGHT))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def check_page(driver, page: Path, root: Path, screenshot: Path | None = None,
               allow_external: tuple = (), base: str | None = None) -> PageReport:
    """Open ``page`` (a file under ``root``; through ``base``, a local server's address, when
    given) and report what failed."""
    page, root = Path(page).resolve(), Path(root).resolve()
    rel = page.relative_to(root).as_posix() if page.is_relative_to(root) else page.name
    url = base + rel if base else page.resolve().as_uri()
    report = PageReport(page=rel, url=url)
    base_host = urlsplit(base).hostname if base else None
    start = time.monotonic()
    _drain_logs(driver)
    try:
        driver.get(url)
        waited = driver.execute_async_script(WAIT_JS, PAGE_TIMEOUT_S)
        facts = driver.execute_script(FACTS_JS)
    except Exception as err:  # a page that hangs or crashes the tab
        report.failures.append(f"the page did not load: {type(err).__name__}: {str(err).splitlines()[0]}")
        report.seconds = time.monotonic() - start
        return report
    if waited.get("timedOut"):
        report.failures.append(f"still loading after {PAGE_TIMEOUT_S} s (waited for {', '.join(waited['waited']) or 'the page'})")

    # network: every request the page made, and the ones that failed
    requests, failed_local, external_reasons = {}, {}, {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            request_url = requests.get(params["requestId"], "?")
            reason = params.get("errorText", "") + (f" ({params['blockedReason']})" if params.get("blockedReason") else "")
            if not _is_local(request_url, base_host):
                external_reasons[request_url] = reason
                continue  # listed with every external request below
            path = _url_path(request_url, root, base)
            if "ERR_ABORTED" in reason and path is not None and path.exists():
                continue  # a load the page itself cancelled
            failed_local[request_url] = reason
        elif method == "Network.responseReceived" and base and params["response"]["url"].startswith(base):
            if params["response"]["status"] >= 400 and params["response"]["url"] != base + "favicon.ico":
                failed_local[params["response"]["url"]] = f"HTTP {params['response']['status']}"
    externals = {}
    for request_url in requests.values():
        if not _is_local(request_url, base_host) and request_url not in externals:
            tolerated = any(re.search(p, request_url) for p in allow_external)
            externals[request_url] = tolerated
    for request_url, tolerated in externals.items():
        report.external.append((request_url, external_reasons.get(request_url, "no response"), tolerated))
    for request_url, reason in failed_local.items():
        report.failures.append(f"local file did not load: {request_url} ({reason})")

    # console: errors of the page's own scripts; failed loads are reported above
    warnings = []
    for entry in driver.get_log("browser"):
        text = entry.get("message", "")
        if entry.get("source") == "network" or "Failed to load resource" in text:
            continue
        if entry.get("level") == "SEVERE":
            report.failures.append(f"console error: {text[:300]}")
        elif entry.get("level") == "WARNING":
            warnings.append(text[:200])
    if warnings:
        report.notes.append(f"{len(warnings)} console warning(s), first: {warnings[0]}")
    if externals and any(f.startswith("console error") for f in report.failures):
        report.notes.append("the console errors may follow from the blocked external requests")

    # math
    math = facts["math"]
    unrendered = [m["text"] for m in math if not m["rendered"]]
    if unrendered:
        why = "MathJax is not on the page" if not facts["mathjax"] else f"MathJax {facts['mathjax']} left them"
        report.failures.append(f"{len(unrendered)} of {len(math)} equations not rendered ({why}), first: {unrendered[0]!r}")
    for error in facts["merrors"][:5]:
        report.failures.append(f"MathJax TeX error: {error}")
    for text in facts["raw"][:5]:
        report.failures.append(f"raw LaTeX in the visible text: {text!r}")
    if len(facts["raw"]) > 5:
        report.failures.append(f"... and {len(facts['raw']) - 5} more text(s) with raw LaTeX")

    # images
    bad_images = [img for img in facts["images"] if not img["ok"]]
    for img in bad_images:
        report.failures.append(f"image did not load: {img['src'][:150] or img['url'][:150]}")

    # widgets
    w = waited.get("widgets", {})
    if w.get("withState", 0) > w.get("rendered", 0):
        report.failures.append(f"{w['withState'] - w['rendered']} of {w['withState']} saved widget views not rendered")
    if w.get("views", 0) > w.get("withState", 0):
        report.notes.append(f"{w['views'] - w['withState']} widget view(s) without saved widget state (nothing to render)")

    # explorers' static form
    shots = screenshot.with_name(screenshot.stem + "__explorer") if screenshot is not None else None
    report.failures += _check_explorers(driver, report, shots)

    # links
    report.failures += _check_links(facts["links"], page, root, set(facts["ids"]), base)

    if screenshot is not None:
        try:
            _screenshot(driver, facts["height"], screenshot)
            report.screenshot = str(screenshot)
        except Exception as err:
            report.notes.append(f"no screenshot: {type(err).__name__}: {str(err).splitlines()[0]}")

    math_part = f"math {len(math) - len(unrendered)}/{len(math)}"
    if facts["mathjax"]:
        math_part += f" (MathJax {facts['mathjax']})"
    widget_part = f", widgets {w.get('rendered', 0)}/{w.get('withState', 0)}" if w.get("views") else ""
    report.summary = (f"{math_part}, images {len(facts['images']) - len(bad_images)}/{len(facts['images'])}, "
                      f"{len(facts['links'])} links{widget_part}")
    report.seconds = time.monotonic() - start
    return report


def _explorer_problems(state: dict) -> list[str]:
    """What is wrong with one explorer's state (:data:`EXPLORER_JS`): values printed, controls and
    image must all say the same view."""
    problems = []
    if state["values"] != state["viewValues"]:
        problems.append(f"printed values {state['values']} are not the view's {state['viewValues']}")
    if state["controls"] != state["viewValues"]:
        problems.append(f"controls show {state['controls']}, the view is {state['viewValues']}")
    missing = [name for name in state["order"] if name not in state["alt"]]
    if missing:
        problems.append(f"the image's alt text does not name {', '.join(missing)}")
    if not state["complete"]:
        problems.append("its image did not load")
    return problems


def _check_explorers(driver, report: PageReport, shots: Path | None) -> list[str]:
    """Move a slider of every explorer on the open page with the keyboard; see :data:`EXPLORER_JS`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    failures = []
    explorers = driver.find_elements(By.CSS_SELECTOR, ".facedid-explorer")
    for i, root in enumerate(explorers):
        name = f"explorer {i + 1}"
        before = driver.execute_script(EXPLORER_JS, root)
        if not before["visible"]:
            failures.append(f"{name}: its controls are hidden (its script did not run)")
            continue
        failures += [f"{name}: {p}" for p in _explorer_problems(before)]
        # the first slider that moves (a control kept at its default on the site is disabled), else a drop-down
        movable = (root.find_elements(By.CSS_SELECTOR, "input[type=range]:not([disabled])")
                   or root.find_elements(By.CSS_SELECTOR, "select:not([disabled])"))
        if not movable or before["nViews"] < 2:
            failures.append(f"{name}: no control to move ({before['nViews']} view(s))")
            continue
        slider = movable[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", root)
        if shots is not None and i == 0:
            shots.parent.mkdir(parents=True, exist_ok=True)
            root.screenshot(str(shots.with_name(shots.name + "-before.png")))
        if slider.tag_name == "select":
            last = driver.execute_script("return arguments[0].selectedIndex === arguments[0].length - 1", slider)
            slider.send_keys(Keys.ARROW_UP if last else Keys.ARROW_DOWN)  # as a reader's keyboard
        else:
            at_end = slider.get_attribute("value") == slider.get_attribute("max")
            slider.send_keys(Keys.ARROW_LEFT if at_end else Keys.ARROW_RIGHT)
        after = driver.execute_script(EXPLORER_JS, root)
        if shots is not None and i == 0:
            root.screenshot(str(shots.with_name(shots.name + "-after.png")))
        moved = slider.get_attribute("data-param")
        if after["src"] == before["src"]:
            failures.append(f"{name}: moving {moved} did not change the image")
        if after["text"] == before["text"]:
            failures.append(f"{name}: moving {moved} did not change the printed values")
        if after["values"].get(moved) == before["values"].get(moved):
            failures.append(f"{name}: {moved} did not move")
        failures += [f"{name}, after moving {moved}: {p}" for p in _explorer_problems(after)]
    if explorers:
        report.notes.append(f"{len(explorers)} explorer(s) moved with the keyboard")
    return failures


def site_pages(root: Path) -> list[Path]:
    """Every HTML page of a built site; folders whose name starts with ``_`` hold no pages."""
    return sorted(p for p in root.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(root).parts[:-1]))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(root: Path):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_site(root: Path, driver=None, screenshots: Path | None = None, allow_external: tuple = (),
               serve: bool = False, out=None) -> list[PageReport]:
    """Check every page under ``root``, print a report per page, return the reports."""
    root, out = Path(root), out or sys.stdout
    pages = site_pages(root)
    server, base = _serve(root) if serve else (None, None)
    own_driver = driver is None
    driver = driver or make_driver(offline=not serve)
    mode = f"served at {base}" if serve else "file://, DevTools offline"
    print(f"browser check: {len(pages)} pages in {root} ({mode}; no host name resolves)", file=out)
    reports = []
    try:
        for page in pages:
            rel = page.relative_to(root).as_posix()
            shot = screenshots / (rel[:-len(".html")].replace("/", "__") + ".png") if screenshots else None
            report = check_page(driver, page, root, shot, allow_external, base)
            reports.append(report)
            print(f"{'PASS' if report.passed else 'FAIL'} {report.page}  {report.seconds:.1f} s  {report.summary}", file=out)
            for failure in report.failures:
                print(f"     - {failure}", file=out)
            for request_url, reason, tolerated in report.external:
                print(f"     - blocked external request{' (tolerated)' if tolerated else ''}: {request_url} ({reason})", file=out)
            for note in report.notes:
                print(f"     . {note}", file=out)
    finally:
        if own_driver:
            driver.quit()
        if server:
            server.shutdown()
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for a PNG of each page")
    parser.add_argument("--allow-external", action="append", default=[], metavar="REGEX",
                        help="tolerate blocked requests to addresses matching REGEX (default: none)")
    parser.add_argument("--serve", action="store_true", help="open the pages from a server on 127.0.0.1")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"no built site in {args.site} (index.html missing)", file=sys.stderr)
        return 2
    if None in chromium_paths():
        print("Chromium or ChromeDriver not found (Debian: apt-get install chromium chromium-driver)", file=sys.stderr)
        return 2
    start = time.monotonic()
    reports = check_site(args.site, screenshots=args.screenshots, allow_external=tuple(args.allow_external),
                         serve=args.serve)
    failed = [r for r in reports if not r.passed]
    externals = sum(len(r.external) for r in reports)
    print(f"browser check: {len(reports) - len(failed)} passed, {len(failed)} failed, {externals} blocked "
          f"external request(s), {time.monotonic() - start:.1f} s"
          + (f"; screenshots in {args.screenshots}" if args.screenshots else ""))
    return 1 if failed or not reports else 0


if __name__ == "__main__":
    sys.exit(main())
