"""The explorers' static form (facedid_lib.viz.static_explorer): the grid, the views, the HTML block.

The browser side (the controls move, the image and values change) is tested in test_browser_check.py.
"""

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from facedid_lib.core.params import Param  # noqa: E402
from facedid_lib.viz import static_explorer, widgets  # noqa: E402


def _data(block: str) -> dict:
    payload = re.search(r'<script type="application/json" class="facedid-explorer-data">(.*?)</script>', block,
                        re.S).group(1)
    return json.loads(payload.replace("<\\/", "</"))


def test_a_slider_stops_at_its_ends_its_default_and_the_discussed_values():
    sigma = Param("sigma", 2.0, "blur", low=0.0, high=16.0, step=0.5)
    assert static_explorer.grid_values(sigma) == [0.0, 2.0, 9.0, 16.0]  # the widest gap halved
    assert static_explorer.grid_values(sigma, marks=(8.0, 12.3)) == [0.0, 2.0, 8.0, 12.5, 16.0]  # on the step
    alpha = Param("alpha", 1.0, "step", low=0.01, high=200.0)
    assert abs(static_explorer.grid_values(alpha)[2] - 14.14) < 2.0  # decades: the geometric mean, on the step
    steps = Param("C&W_steps", 100, "iterations", low=1, high=1000, step=1)
    assert max(static_explorer.grid_values(steps)) == 200  # work: at most twice the default
    seed = Param("seed", 0, "noise seed", low=0, high=2**31 - 1)
    assert static_explorer.grid_values(seed) == [0, 1, 2, 3]
    shape = Param("shape", "box", "kernel", choices=("disc", "box", "ring"))
    assert static_explorer.grid_values(shape) == ["box", "disc", "ring"]
    assert static_explorer.grid_values(Param("on", True, "flag")) == [True, False]


def test_the_grid_is_a_star_in_rounds_and_a_selectors_own_parameters_select_their_owner():
    params = [Param("method", "blur", "which", choices=("blur", "pixelate")),
              Param("blur_sigma", 2.0, "blur: sigma", low=0.0, high=8.0, step=1.0),
              Param("pixelate_block", 8, "pixelate: block", low=2, high=32, step=2)]
    points = static_explorer.grid_points(params)
    assert points[0] == {"method": "blur", "blur_sigma": 2.0, "pixelate_block": 8}
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)
    for point in points[1:]:  # one control moved (with its owner selected), the rest at their defaults
        moved = {k for k, v in point.items() if v != points[0][k]}
        assert moved in ({"method"}, {"blur_sigma"}, {"method", "pixelate_block"}), point
    # round one: every control's first other value before any second one
    assert [sorted(k for k, v in p.items() if v != points[0][k]) for p in points[1:4]] == [
        ["method"], ["blur_sigma"], ["method", "pixelate_block"]]
    assert len(static_explorer.grid_points(params, max_views=3)) == 3


def _callback(size: float, kind: str, flag: bool):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.text(0.5, 0.5, f"{size} {kind} {flag}")
    return static_explorer.measured(fig, twice=2 * size + (kind == "b") + flag)


PARAMS = [Param("size", 1.0, "size", low=0.0, high=3.0, step=0.5),
          Param("kind", "a", "kind", choices=("a", "b")),
          Param("flag", False, "flag")]


def test_static_html_holds_one_view_per_setting_with_its_own_measured_numbers():
    explorer = widgets.Explorer(_callback, PARAMS, title="toy")
    block = explorer.static_html()
    data = _data(block)
    assert data["order"] == ["size", "kind", "flag"]
    assert [v["values"] for v in data["views"]] == static_explorer.grid_points(PARAMS)
    for view in data["views"]:  # the numbers are the callback's for exactly these values
        values = view["values"]
        assert view["measured"] == {"twice": 2 * values["size"] + (values["kind"] == "b") + values["flag"]}
        assert view["image"].startswith("data:image/")
    assert len({v["image"] for v in data["views"]}) == len(data["views"])  # each figure its own
    assert data["stops"]["size"] == sorted(data["stops"]["size"]) and 1.0 in data["stops"]["size"]
    # without JavaScript: the default view's figure, its alt text naming every parameter; controls hidden
    img = re.search(r'<img class="facedid-explorer-view" src="([^"]+)" alt="([^"]+)"', block)
    assert img.group(1) == data["views"][0]["image"]
    assert all(name in img.group(2) for name in data["order"])
    assert '<div class="facedid-explorer-controls" hidden>' in block
    assert re.search(r'<input type="range"[^>]*data-param="size"', block)
    assert '<select id=' in block and 'type="checkbox"' in block
    assert "http" not in block.replace("data:image", "")  # nothing from another host
    assert explorer.static_html() is block  # computed once


def test_a_setting_the_callback_refuses_is_left_out():
    def picky(size, kind, flag):
        if size > 2:
            raise ValueError("too large")
        return _callback(size, kind, flag)

    data = _data(widgets.Explorer(picky, PARAMS).static_html())
    assert all(v["values"]["size"] <= 2 for v in data["views"])
    assert 3.0 not in data["stops"]["size"]


def test_the_explorer_carries_its_static_form_only_when_the_build_asks(monkeypatch):
    explorer = widgets.Explorer(_callback, PARAMS, title="toy")
    monkeypatch.setenv(static_explorer.ENVIRONMENT, "0")
    live = explorer._repr_mimebundle_()
    assert "text/html" not in live and "application/vnd.jupyter.widget-view+json" in live
    monkeypatch.setenv(static_explorer.ENVIRONMENT, "1")
    built = explorer._repr_mimebundle_()
    assert built["application/vnd.jupyter.widget-view+json"] == live["application/vnd.jupyter.widget-view+json"]
    assert built["text/html"].startswith('<div class="facedid-explorer"')


def test_every_library_explorer_keeps_its_static_form_small(monkeypatch):
    """The factories' grids: at most their cap; the rank explorer's discussed values come first."""
    class _Gan:
        n_identities = 30

    monkeypatch.setattr(widgets.Explorer, "_redraw", lambda self: None)  # no inputs here: the grid only
    made = [widgets.attack_explorer(None, None, None), widgets.rank_explorer(None, None, None),
            widgets.gan_explorer(_Gan(), None, None, None), widgets.dedetection_explorer({"a.jpg": None}),
            widgets.methods_explorer(["blur", "pixelate", "svd"], None)]
    for explorer in made:
        points = static_explorer.grid_points(explorer.params, explorer.marks, explorer.max_views)
        assert 2 <= len(points) <= explorer.max_views <= static_explorer.MAX_VIEWS, explorer.title
    rank = made[1]
    points = static_explorer.grid_points(rank.params, rank.marks, rank.max_views)
    assert points[1]["attack"] == "DeepFool" and points[2]["k-A^3_k"] == 9  # the chapter's (marks)


def test_a_methods_trained_parameters_keep_their_defaults_unless_nothing_else_moves(monkeypatch):
    monkeypatch.setattr(widgets.Explorer, "_redraw", lambda self: None)
    assert widgets.trained_on("san") == ("w_gender", "w_match", "w_pixel")
    assert widgets.trained_on("blur") == () and widgets.trained_on("autoencoder") == ()
    san = widgets.method_explorer("san", None)
    points = static_explorer.grid_points(san.params, san.marks, san.max_views, fixed=san.static_fixed)
    assert {p["prototype"] for p in points} == {"opposite", "same", "neutral"}
    assert all(p["w_gender"] == points[0]["w_gender"] for p in points)  # no SAN trained for the site
    kept = widgets.methods_explorer(["blur", "san"], None)
    assert kept.static_fixed == ("san_w_gender", "san_w_match", "san_w_pixel")
    nousi = widgets.method_explorer("attribute-preserving", None)  # every parameter trains: one more view
    assert nousi.static_fixed == () and nousi.max_views == 2
