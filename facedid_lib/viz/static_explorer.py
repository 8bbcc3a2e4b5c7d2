"""The static form of an explorer: its views precomputed on a grid, with sliders that move on a static site.

A reader of the hosted book has no Python kernel, so an ipywidgets explorer shows nothing there. At
build time :class:`~facedid_lib.viz.widgets.Explorer` evaluates its callback on a small grid of its
parameters and this module writes the result as one self-contained HTML block: the figures as
compressed images (WebP, JPEG where Pillow has no WebP), the grid as JSON, and a few lines of
plain JavaScript (no library, no network) whose controls snap to the grid and swap the image.

The grid (:func:`grid_points`) is a *star* around the defaults, not a product: each parameter is
moved alone over its grid values (:func:`grid_values`: the ends of its range, the default, the
values the chapter discusses, and midpoints until a slider has ``per_slider`` stops) while the
others stay at their defaults. A parameter that belongs to one choice of a selector (``<owner>_<name>``
beside a control whose choices include ``owner``, see :func:`~facedid_lib.viz.widgets.prefixed`)
is moved with that selector set to its owner. The views are thus ``1 + sum(stops - 1)``, not the
product of the stops, and one explorer stays small. On the page, moving a control shows the view
with the new value and as many of the other current values as the grid holds; a control the
grid could not keep snaps to the view's value, so the controls always show the figure's parameters.

Without JavaScript (or in print) the block is the default view's figure, its alt text naming
the parameters; the controls are hidden until the script runs. The controls are a native range
input per number (keyboard: arrows, Home, End), a ``<select>`` per choice and a check box per
flag, each with its label.

>>> from facedid_lib.core.params import Param
>>> p = Param("sigma", 2.0, "blur", low=0.0, high=16.0, step=0.5)
>>> grid_values(p, marks=(8.0,))
[0.0, 2.0, 8.0, 16.0]
>>> points = grid_points([p, Param("shape", "disc", "kernel", choices=("disc", "box"))])
>>> len(points), points[0]
(5, {'sigma': 2.0, 'shape': 'disc'})
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import os
from typing import Callable, Sequence

from facedid_lib.core.params import Param

#: The environment variable that asks explorers for their static form (``1``: yes). The book's build
#: sets it (``_ext/site_fixes.py``) and so does the test run that fills the book's cache
#: (``conftest.py``); a reader's Jupyter or Colab session does not pay for the grid.
ENVIRONMENT = "FACEDID_STATIC_EXPLORERS"

#: At most this many views per explorer (the default view included).
MAX_VIEWS = 30
#: Stops of a numeric slider in the static form (ends, default, discussed values, then midpoints).
PER_SLIDER = 4
#: At most this many options of one drop-down in the static form (the default first).
MAX_CHOICES = 8
#: Parameters (the last ``_`` part of the name) that multiply the work, iterations: in the static form
#: at most twice their default.
WORK = ("steps", "epochs")
#: Figures are drawn at this resolution for the static form.
DPI = 72


def wanted() -> bool:
    """Whether explorers should carry their static form (:data:`ENVIRONMENT` is ``1``)."""
    return os.environ.get(ENVIRONMENT, "") == "1"


def _snap(param: Param, value: float):
    """``value`` on the slider's step grid inside its range, of the parameter's type."""
    step = param.step or (param.high - param.low) / 100
    value = min(max(value, param.low), param.high)
    snapped = param.low + round((value - param.low) / step) * step
    snapped = min(max(snapped, param.low), param.high)
    return int(round(snapped)) if isinstance(param.default, int) else round(float(snapped), 10)


def grid_values(param: Param, marks: Sequence = (), per_slider: int = PER_SLIDER,
                max_choices: int = MAX_CHOICES) -> list:
    """The values one control takes in the static form.

    A drop-down: its choices (the default and the marks first, at most ``max_choices``); a check
    box: both; a number: its range's ends, its default and ``marks`` (the values the chapter's
    text discusses), then the midpoint of the widest gap until there are ``per_slider`` stops,
    each snapped to the slider's step.
    """
    if param.choices:
        ordered = [param.default, *(m for m in marks if m in param.choices), *param.choices]
        return list(dict.fromkeys(ordered))[:max_choices]
    if isinstance(param.default, bool):
        return [param.default, not param.default]
    base = param.name.rsplit("_", 1)[-1]  # "C&W_search_steps" -> "steps"
    if base == "seed":  # any seed is as good as another: the next ones show the spread
        return [param.default, *(min(param.default + i, param.high) for i in range(1, per_slider))][:per_slider]
    high = param.high
    if base in WORK:
        high = min(high, max(2 * param.default, param.low))
    values = sorted({param.default, *(_snap(param, v) for v in (param.low, high, *marks))})
    wide = param.low > 0 and high / param.low >= 100  # spans decades: stops spread on a log scale
    while len(values) < per_slider:
        gaps = [((math.log(b / a) if wide else b - a), i) for i, (a, b) in enumerate(zip(values, values[1:]))]
        _, i = max(gaps)
        a, b = values[i], values[i + 1]
        middle = _snap(param, math.sqrt(a * b) if wide else (a + b) / 2)
        if middle in values:
            break
        values = sorted(values + [middle])
    return values


def owners(params: Sequence[Param]) -> dict:
    """``parameter name -> (selector name, choice)`` for the parameters that belong to one choice of a
    selector (named ``<choice>_<name>``, :func:`facedid_lib.viz.widgets.prefixed`)."""
    found = {}
    for selector in params:
        for choice in selector.choices:
            for p in params:
                if p is not selector and isinstance(choice, str) and p.name.startswith(f"{choice}_"):
                    found.setdefault(p.name, (selector.name, choice))
    return found


def grid_points(params: Sequence[Param], marks: dict | None = None, max_views: int = MAX_VIEWS,
                per_slider: int = PER_SLIDER, fixed: Sequence[str] = ()) -> list[dict]:
    """The parameter settings the static form shows: the defaults first, then each control moved
    alone over :func:`grid_values` (a selector's own parameters with the selector on their owner).

    The settings come in rounds: every control's first other value (a discussed one, ``marks``, then
    the range's ends), then every control's second, and so on; with more than ``max_views`` the list
    is cut there, so each control keeps at least one other value while the cap allows. The controls
    named in ``fixed`` keep their defaults (another value would train a network).
    """
    marks = marks or {}
    belongs = owners(params)
    selectors = {selector for selector, _ in belongs.values()}
    default = {p.name: p.default for p in params}
    others = []
    for p in (p for p in params if p.name not in fixed):
        every = len(p.choices) if p.name in selectors else MAX_CHOICES  # a selector keeps all its choices
        values = [v for v in grid_values(p, marks.get(p.name, ()), per_slider=per_slider, max_choices=every)
                  if v != p.default]
        first = [v for v in marks.get(p.name, ()) if v in values]
        if not p.choices and len(values) > 1:
            first += [v for v in (values[0], values[-1]) if v not in first]  # the ends
        others.append((p, first + [v for v in values if v not in first]))
    points, seen = [default], {_key(default)}
    for round_ in range(max((len(values) for _, values in others), default=0)):
        for p, values in others:
            if round_ >= len(values):
                continue
            point = {**default, p.name: values[round_]}
            if p.name in belongs:
                selector, choice = belongs[p.name]
                point[selector] = choice
            if _key(point) not in seen:
                seen.add(_key(point))
                points.append(point)
    return points[:max_views]


def _key(point: dict) -> str:
    return json.dumps(point, sort_keys=True)


def encode(fig, dpi: int = DPI, quality: int = 80) -> str:
    """A matplotlib figure as a ``data:`` address of a compressed image (WebP, or JPEG without WebP)."""
    from PIL import features, Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    kind = "webp" if features.check("webp") else "jpeg"
    out = io.BytesIO()
    image.save(out, format=kind.upper(), quality=quality, **({"method": 4} if kind == "webp" else {}))
    return f"data:image/{kind};base64,{base64.b64encode(out.getvalue()).decode('ascii')}"


def measured(fig, **numbers):
    """Attach the numbers a view measured (``name -> float``) to its figure; the static form shows them
    beside the figure. Returns ``fig``."""
    fig.facedid_measured = {name: float(value) for name, value in numbers.items()}
    return fig


def views(callback: Callable, params: Sequence[Param], fixed: dict, marks: dict | None = None,
          max_views: int = MAX_VIEWS, first=None, progress: bool = False, kept: Sequence[str] = ()) -> list[dict]:
    """Evaluate ``callback(**fixed, **point)`` on :func:`grid_points` (``kept``: the controls that keep
    their defaults) and encode each figure.

    Returns ``[{"values": point, "image": data address, "measured": {...}}]``; ``first`` is the
    default view's figure when the caller drew it already. A setting the callback refuses
    (ValueError) is left out.
    """
    import matplotlib.pyplot as plt

    points = grid_points(params, marks, max_views, fixed=kept)
    out = []
    bar = _progress(len(points), progress)
    for i, point in enumerate(points):
        try:
            fig = first if (i == 0 and first is not None) else callback(**fixed, **point)
        except ValueError:
            bar.update(1)
            continue
        out.append({"values": point, "image": encode(fig), "measured": getattr(fig, "facedid_measured", {})})
        if fig is not first:
            plt.close(fig)
        bar.update(1)
    bar.close()
    return out


def _progress(total: int, shown: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="static views", disable=not shown, leave=False)


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe(values: dict) -> str:
    """``name = value`` pairs of one view, the alt text's and the printed values' wording."""
    return ", ".join(f"{name} = {_format(value)}" for name, value in values.items())


_counter = itertools.count()

_SCRIPT = r"""
(function () {
  const root = document.getElementById(%(id)s);
  const data = JSON.parse(root.querySelector('script.facedid-explorer-data').textContent);
  const img = root.querySelector('img.facedid-explorer-view');
  const said = root.querySelector('.facedid-explorer-values');
  const controls = {};
  root.querySelectorAll('[data-param]').forEach(el => { controls[el.dataset.param] = el; });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  function read(name) {
    const el = controls[name], stops = data.stops[name];
    if (el.type === 'range') return stops[Number(el.value)];
    if (el.type === 'checkbox') return el.checked;
    return stops[el.selectedIndex];
  }
  function write(name, value) {
    const el = controls[name], i = data.stops[name].findIndex(v => same(v, value));
    if (el.type === 'range') { el.value = String(i); el.setAttribute('aria-valuetext', fmt(value)); }
    else if (el.type === 'checkbox') el.checked = value;
    else el.selectedIndex = i;
    const shown = root.querySelector('[data-shows="' + name + '"]');
    if (shown) shown.textContent = fmt(value);
  }
  function fmt(v) { return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v); }
  function show(i) {
    const view = data.views[i];
    for (const name of data.order) write(name, view.values[name]);
    img.src = view.image;
    img.alt = data.title + ': ' + data.order.map(n => n + ' = ' + fmt(view.values[n])).join(', ');
    img.dataset.view = String(i);
    const parts = data.order.map(n => n + ' = ' + fmt(view.values[n]));
    const numbers = Object.entries(view.measured).map(([k, v]) => k + ' ' + fmt(v));
    said.textContent = parts.join(', ') + (numbers.length ? ' | measured: ' + numbers.join(', ') : '');
    said.dataset.values = JSON.stringify(view.values);
    said.dataset.measured = JSON.stringify(view.measured);
  }
  function moved(name) {
    const wanted = read(name);
    let best = -1, bestScore = -1;
    data.views.forEach((view, i) => {
      if (!same(view.values[name], wanted)) return;
      let score = 0;
      for (const other of data.order) if (same(view.values[other], read(other))) score += 1;
      if (score > bestScore) { best = i; bestScore = score; }
    });
    show(best >= 0 ? best : Number(img.dataset.view));
  }
  for (const name of data.order) {
    const el = controls[name];
    el.addEventListener(el.type === 'range' ? 'input' : 'change', () => moved(name));
  }
  root.querySelector('.facedid-explorer-controls').hidden = false;
  show(0);
})();
"""

_STYLE = """
.facedid-explorer { border: 1px solid #ccc; border-radius: 4px; padding: 0.5em; margin: 0.5em 0; }
.facedid-explorer-controls { display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; margin-bottom: 0.4em; }
.facedid-explorer-controls label { font-size: 0.85em; display: inline-flex; align-items: center; gap: 0.4em; }
.facedid-explorer-values { display: block; font-size: 0.8em; font-family: monospace; margin: 0.3em 0; }
.facedid-explorer img { max-width: 100%; height: auto; }
@media print { .facedid-explorer-controls, .facedid-explorer-values { display: none; } }
"""


def _control(param: Param, stops: list, uid: str) -> str:
    """The HTML of one control (label, native input) over the grid's ``stops``."""
    cid = f"{uid}-{param.name}"
    name = html.escape(param.name)
    tip = html.escape(param.help or param.name)
    if param.choices:
        options = "".join(f"<option>{html.escape(_format(v))}</option>" for v in stops)
        disabled = " disabled" if len(stops) == 1 else ""
        return (f'<label for="{cid}" title="{tip}">{name} <select id="{cid}" data-param="{name}"{disabled}>{options}'
                f"</select></label>")
    if isinstance(param.default, bool):
        checked = " checked" if param.default else ""
        return (f'<label for="{cid}" title="{tip}"><input type="checkbox" id="{cid}" data-param="{name}"'
                f"{checked}> {name}</label>")
    index = stops.index(param.default)
    if len(stops) == 1:  # kept at its default on the site (each value trains a network): shown, not movable
        tip = html.escape(f"{param.help or param.name} (fixed on this page: run the notebook to change it)")
    disabled = " disabled" if len(stops) == 1 else ""
    return (f'<label for="{cid}" title="{tip}">{name} <input type="range" id="{cid}" data-param="{name}" '
            f'min="0" max="{len(stops) - 1}" step="1" value="{index}"{disabled} '
            f'aria-valuetext="{html.escape(_format(param.default))}"> '
            f'<span data-shows="{name}">{html.escape(_format(param.default))}</span></label>')


def render(title: str, params: Sequence[Param], computed: list[dict]) -> str:
    """The self-contained HTML block of an explorer's static form (see the module's docstring).

    ``computed`` is :func:`views`'s result, the default view first.
    """
    if not computed:
        raise ValueError("no view was computed")
    # unique on a page (one kernel draws a page's explorers), the same in every build
    uid = f"facedid-explorer-{next(_counter)}-{hashlib.sha1(title.encode()).hexdigest()[:8]}"
    order = [p.name for p in params]
    stops = {name: list(dict.fromkeys(v["values"][name] for v in computed)) for name in order}
    for p in params:  # the control's stops in the slider's order
        if not p.choices and not isinstance(p.default, bool):
            stops[p.name] = sorted(stops[p.name])
        elif p.choices:
            stops[p.name] = [c for c in p.choices if c in stops[p.name]]
        else:
            stops[p.name] = [False, True]
    first = computed[0]
    data = {"title": title, "order": order, "stops": stops, "views": computed}
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    alt = html.escape(f"{title}: {describe(first['values'])}")
    numbers = ", ".join(f"{k} {_format(v)}" for k, v in first["measured"].items())
    said = html.escape(describe(first["values"]) + (f" | measured: {numbers}" if numbers else ""))
    controls = "".join(_control(p, stops[p.name], uid) for p in params)
    return (f'<div class="facedid-explorer" id="{uid}" data-views="{len(computed)}">'
            f"<style>{_STYLE}</style>"
            f'<div class="facedid-explorer-title"><b>{html.escape(title)}</b> '
            f"<small>({len(computed)} precomputed views; the controls snap to them)</small></div>"
            f'<div class="facedid-explorer-controls" hidden>{controls}</div>'
            f'<output class="facedid-explorer-values" aria-live="polite">{said}</output>'
            f'<img class="facedid-explorer-view" src="{first["image"]}" alt="{alt}" data-view="0">'
            f'<script type="application/json" class="facedid-explorer-data">{payload}</script>'
            f"<script>{_SCRIPT % {'id': json.dumps(uid)}}</script></div>")


__all__ = ["ENVIRONMENT", "MAX_VIEWS", "PER_SLIDER", "MAX_CHOICES", "DPI", "wanted", "grid_values", "owners",
           "grid_points", "encode", "measured", "views", "describe", "render"]
