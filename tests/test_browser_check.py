"""The site's browser check (.ci/browser_check.py) on small hand-made pages in headless Chromium.

A good page (math already rendered as MathJax renders it, an image, working links) passes; a page
with a raw equation, a missing image, a CDN script, a broken link or a script error fails, each for
its own reason. One more page renders its math with the MathJax that sphinx-mathjax-offline ships,
through file:// with the network off. Skipped where Chromium or ChromeDriver is not installed
(Debian: apt-get install chromium chromium-driver; .ci/run installs them).
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from pathlib import Path

import pytest

CHECKER = Path(__file__).resolve().parents[1] / ".ci" / "browser_check.py"
PNG = base64.b64decode(  # 1 x 1 pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _load_checker():
    spec = importlib.util.spec_from_file_location("browser_check", CHECKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


bc = _load_checker()
pytest.importorskip("selenium")
if None in bc.chromium_paths():
    pytest.skip("Chromium or ChromeDriver is not installed", allow_module_level=True)


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'><title>t</title>{head}</head><body>{body}</body></html>"


RENDERED = ('<span class="math notranslate nohighlight"><mjx-container class="MathJax" jax="CHTML">'
            '<mjx-math><mjx-mi>x</mjx-mi></mjx-math></mjx-container></span>')


@pytest.fixture(scope="module")
def driver():
    driver = bc.make_driver()
    yield driver
    driver.quit()


@pytest.fixture
def site(tmp_path):
    (tmp_path / "dot.png").write_bytes(PNG)
    (tmp_path / "good.html").write_text(page(
        f'<h1 id="top">Good</h1><p>Inline {RENDERED} and a figure:</p><img src="dot.png" alt="dot">'
        '<p><a href="#top">top</a> <a href="other.html#part">other</a> <a href="https://example.org/">away</a></p>'))
    (tmp_path / "other.html").write_text(page('<h2 id="part">Part</h2>'))
    return tmp_path


def check(driver, root: Path, name: str, body: str, head: str = "", **kwargs):
    (root / name).write_text(page(body, head))
    return bc.check_page(driver, root / name, root, **kwargs)


def test_good_page_passes_and_is_photographed(driver, site):
    shot = site / "shots" / "good.png"
    report = bc.check_page(driver, site / "good.html", site, screenshot=shot)
    assert report.passed, report.failures + report.external
    assert "math 1/1" in report.summary and "images 1/1" in report.summary
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_raw_equation_fails(driver, site):
    report = check(driver, site, "raw.html", '<p>Energy <span class="math notranslate nohighlight">\\(E = mc^2\\)</span>'
                   ' and $$a + b$$ and $\\alpha$.</p>')
    assert not report.passed
    assert any("1 of 1 equations not rendered" in f for f in report.failures)
    raw = [f for f in report.failures if f.startswith("raw LaTeX")]
    assert any("E = mc^2" in f for f in raw) and any("$$a + b$$" in f and "$\\\\alpha$" in f for f in raw)


def test_missing_image_fails(driver, site):
    report = check(driver, site, "noimage.html", '<img src="dot.png" alt="ok"><img src="missing.png" alt="missing">')
    assert not report.passed
    assert "image did not load: missing.png" in report.failures
    assert any("missing.png" in f and "ERR_FILE_NOT_FOUND" in f for f in report.failures)
    assert "images 1/2" in report.summary


def test_cdn_script_is_blocked_and_reported_apart(driver, site):
    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    report = check(driver, site, "cdn.html", RENDERED, head=f'<script src="{cdn}"></script>')
    assert not report.passed and not report.failures  # only the external request fails it
    assert [url for url, _, _ in report.external] == [cdn]
    tolerated = check(driver, site, "cdn.html", RENDERED, head=f'<script src="{cdn}"></script>',
                      allow_external=(r"cdn\.jsdelivr\.net",))
    assert tolerated.passed and tolerated.external[0][2] is True


def test_broken_links_and_script_errors_fail(driver, site):
    report = check(driver, site, "links.html", '<a href="nowhere.html">a</a> <a href="other.html#gone">b</a>'
                   ' <a href="good.html#top">c</a> <a href="../outside.html">d</a><script>notDefined()</script>')
    failures = "\n".join(report.failures)
    assert "broken link: 'nowhere.html'" in failures
    assert "broken anchor: 'other.html#gone'" in failures
    assert "link leaves the site: '../outside.html'" in failures
    assert "notDefined is not defined" in failures
    assert "good.html#top" not in failures


def test_offline_mathjax_renders(driver, site):
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        pytest.skip("sphinx-mathjax-offline is not installed")
    mathjax = Path(spec.origin).parent / "static" / "mathjax" / "tex-chtml.js"
    report = check(driver, site, "mathjax.html", '<p class="math">\\(\\frac{a}{b} + \\sqrt{x}\\)</p>'
                   '<div class="math">\\[\\begin{aligned} a &= b \\end{aligned}\\]</div>',
                   head=f'<script defer src="{mathjax.as_uri()}"></script>')
    assert report.passed, report.failures + report.external
    assert "math 2/2 (MathJax 3.2.2)" in report.summary


def test_check_site_reports_every_page(driver, site, capsys):
    (site / "_static").mkdir()
    (site / "_static" / "skipped.html").write_text(page("not a page"))
    reports = bc.check_site(site, driver=driver, screenshots=site / "shots")
    assert [r.page for r in reports] == ["good.html", "other.html"]
    assert all(r.passed for r in reports)
    assert sorted(p.name for p in (site / "shots").iterdir()) == ["good.png", "other.png"]
    assert "PASS good.html" in capsys.readouterr().out


def _explorer_block() -> str:
    """A real static explorer (facedid_lib.viz.static_explorer) over a toy callback."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facedid_lib.core.params import Param
    from facedid_lib.viz import static_explorer

    def draw(size, kind):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.text(0.1, 0.5, f"size {size}, kind {kind}")
        return static_explorer.measured(fig, area=size * size)

    params = [Param("size", 1.0, "size", low=0.0, high=3.0, step=0.5), Param("kind", "a", "kind", choices=("a", "b"))]
    return static_explorer.render("toy", params, static_explorer.views(draw, params, {}))


def test_an_explorer_moves_with_the_keyboard_and_is_photographed(driver, site):
    shot = site / "shots" / "explorer.png"
    report = check(driver, site, "explorer.html", _explorer_block(), screenshot=shot)
    assert report.passed, report.failures
    assert "1 explorer(s) moved with the keyboard" in report.notes
    before, after = (site / "shots" / f"explorer__explorer-{when}.png" for when in ("before", "after"))
    assert before.read_bytes() != after.read_bytes() and after.read_bytes().startswith(b"\x89PNG")


def test_a_dead_or_lying_explorer_fails(driver, site):
    block = _explorer_block()
    dead = re.sub(r"<script>\s*\(function.*?</script>", "", block, flags=re.S)  # its script never runs
    assert dead != block
    report = check(driver, site, "dead.html", dead)
    assert any("controls are hidden" in f for f in report.failures), report.failures
    images = sorted(set(re.findall(r'"image":"(data:image/[^"]+)"', block)))
    frozen = block
    for image in images[1:]:  # every view the same image: moving the slider changes nothing visible
        frozen = frozen.replace(image, images[0])
    report = check(driver, site, "frozen.html", frozen)
    assert any("did not change the image" in f for f in report.failures), report.failures


def test_an_explorer_whose_sliders_are_kept_moves_its_drop_down(driver, site):
    """A method whose every slider selects a trained network (the SAN's loss weights) keeps them at their
    defaults on the site, disabled; its drop-down moves instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facedid_lib.core.params import Param
    from facedid_lib.viz import static_explorer

    def draw(prototype, w_gender):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.text(0.1, 0.5, f"{prototype} {w_gender}")
        return fig

    params = [Param("prototype", "opposite", "p", choices=("same", "neutral", "opposite")),
              Param("w_gender", 1.0, "weight", low=0.0, high=5.0, step=0.5)]
    block = static_explorer.render("kept", params, static_explorer.views(draw, params, {}, kept=("w_gender",)))
    assert 'value="0" disabled' in block
    report = check(driver, site, "kept.html", block)
    assert report.passed, report.failures
