"""ipywidgets explorers built from parameter declarations.

An :class:`Explorer` turns a list of :class:`~facedid_lib.params.Param` into sliders and drop-downs
and redraws a figure from a plain callback (a library function returning a matplotlib figure)
whenever a value changes. Because the callback is ordinary code, a test drives an explorer with
:meth:`Explorer.update` and no browser; because it returns a figure, the book shows a static
version of the same view to readers of the site.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display

from .params import Param


def param_widget(param: Param) -> W.ValueWidget:
    """The widget for one parameter: drop-down, check box, integer or float slider."""
    style = {"description_width": "initial"}
    common = dict(value=param.default, description=param.name, tooltip=param.help, style=style,
                  continuous_update=False)
    if param.choices:
        return W.Dropdown(options=list(param.choices), value=param.default, description=param.name,
                          tooltip=param.help, style=style)
    if isinstance(param.default, bool):
        return W.Checkbox(value=param.default, description=param.name, tooltip=param.help)
    if isinstance(param.default, int):
        return W.IntSlider(min=param.low, max=param.high, step=param.step or 1, **common)
    return W.FloatSlider(min=param.low, max=param.high, step=param.step or (param.high - param.low) / 100,
                         **common)


class Explorer:
    """Controls for ``params`` that redraw ``callback(**fixed, **values)`` on every change."""

    def __init__(self, callback: Callable, params: Sequence[Param], title: str | None = None, **fixed):
        self.callback = callback
        self.fixed = fixed
        self.controls = {p.name: param_widget(p) for p in params}
        self.output = W.Output()
        self.figure = None
        for control in self.controls.values():
            control.observe(self._redraw, names="value")
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        self.widget = W.VBox(header + [W.HBox(list(self.controls.values()),
                                              layout=W.Layout(flex_flow="row wrap")), self.output])
        self._redraw()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self, **values) -> None:
        """Set control values (as a user would) and redraw once."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"no control named {', '.join(unknown)}; controls: {', '.join(self.controls)}")
        with self.output.hold_trait_notifications():
            for control in self.controls.values():
                control.unobserve(self._redraw, names="value")
            try:
                for name, value in values.items():
                    self.controls[name].value = value
            finally:
                for control in self.controls.values():
                    control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change=None) -> None:
        self.figure = self.callback(**self.fixed, **self.values)
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)  # shown in the output area; keep the inline backend from showing it twice

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def detector_view(photos: dict, photo: str, detector: str, **params):
    """The figure of one photo with one detector's boxes (the detector explorer's callback).

    ``params`` holds every detector's parameters, named ``<detector>_<parameter>``; only
    ``detector``'s are used.
    """
    from . import faces, plotting

    prefix = f"{detector}_"
    own = {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}
    found = faces.detect(photos[photo], detector, **own)
    return plotting.detections_figure(photos[photo], found,
                                      title=f"{detector}: {len(found)} face(s) in {photo}")


def detector_explorer(photos: dict, detectors: Sequence[str] = ("hog", "haar", "mmod")) -> Explorer:
    """Choose a photo and a detector, drag its parameters, see the boxes.

    Parameters
    ----------
    photos : ``name -> photo`` (e.g. :func:`facedid_lib.data.wild_photos`).
    detectors : detector names (``faces.detect``'s); each one's parameters get their own controls,
        named ``<detector>_<parameter>``.
    """
    from . import faces

    if not photos:
        raise ValueError("photos is empty")
    params = [Param("photo", next(iter(photos)), "the photo", choices=tuple(photos)),
              Param("detector", detectors[0], "the face detector", choices=tuple(detectors))]
    for name in detectors:
        params += [dataclasses.replace(p, name=f"{name}_{p.name}", help=f"{name}: {p.help}")
                   for p in faces.detector_params(name)]
    return Explorer(detector_view, params, title="Face detectors on the wild photos", photos=photos)


def method_view(images, method: str, **params):
    """Clean faces, the method's output and the magnified change, titled with SSIM (a callback)."""
    from . import evaluate, metrics, methods

    new = methods.get(method)(images, **params)
    scores = metrics.ssim(new, images)
    n = min(len(images), 6)
    titles = (["clean"] * n + [f"SSIM {float(s):.2f}" for s in scores[:n]]
              + ["|change| x 10"] * n)
    return evaluate.perturbation_figure(images, new, n=n, titles=titles)


def method_explorer(method: str, images) -> Explorer:
    """Drag a registered method's parameters and watch a few faces change."""
    from . import methods

    spec = methods.get(method)
    return Explorer(method_view, spec.params, title=f"{spec.name}: {spec.summary}", images=images,
                    method=method)
