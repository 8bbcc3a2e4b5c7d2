"""ipywidgets explorers built from parameter declarations.

An :class:`Explorer` turns a list of :class:`~facedid_lib.core.params.Param` into sliders and drop-downs
and redraws a figure from a plain callback (a library function returning a matplotlib figure)
whenever a value changes. Because the callback is ordinary code, a test drives an explorer with
:meth:`Explorer.update` and no browser; because it returns a figure, the book shows a static
version of the same view to readers of the site: where :func:`facedid_lib.viz.static_explorer.wanted`
(the book's build), the explorer also carries its static form, its views precomputed on a grid with
sliders that move on the static site (:mod:`facedid_lib.viz.static_explorer`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

try:
    import ipywidgets as W
except ModuleNotFoundError as error:  # an optional extra
    raise ModuleNotFoundError('the explorers need ipywidgets: pip install "facedid[widgets]" (or the course\'s '
                              'requirements.txt)', name=error.name) from error
import matplotlib.pyplot as plt
import numpy as np
import torch

from facedid_lib.core.config import module_device
from facedid_lib.core.params import Param
from facedid_lib.viz.plotting import as_display
from facedid_lib.viz import figures, static_explorer


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
    """Controls for ``params`` that redraw ``callback(**fixed, **values)`` on every change.

    ``marks`` (``name -> values``) are the values of a slider the chapter's text discusses: the
    static form (:meth:`static_html`) keeps a stop at each; ``max_views`` caps its views (an
    explorer whose view runs an attack keeps fewer); the controls named in ``static_fixed`` keep
    their defaults there (another value would train a network).
    """

    def __init__(self, callback: Callable, params: Sequence[Param], title: str | None = None,
                 marks: dict | None = None, max_views: int = static_explorer.MAX_VIEWS,
                 static_fixed: Sequence[str] = (), **fixed):
        self.callback = callback
        self.fixed = fixed
        self.params = list(params)
        self.title = title
        self.marks = dict(marks or {})
        self.max_views = max_views
        self.static_fixed = tuple(static_fixed)
        self._static = None
        self.controls = {p.name: param_widget(p) for p in params}
        self.output = W.Output()
        self.figure = None
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
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
                control.unobserve(self._on_change, names="value")
            try:
                for name, value in values.items():
                    self.controls[name].value = value
            finally:
                for control in self.controls.values():
                    control.observe(self._on_change, names="value")
        self._redraw()

    def _on_change(self, _change) -> None:
        """A slider moved: redraw; a value the callback rejects shows its message instead of a traceback."""
        try:
            self._redraw()
        except ValueError as err:
            self.output.outputs = ()
            self.output.append_stdout(f"{err}\n")

    def _redraw(self) -> None:
        self.figure = self.callback(**self.fixed, **self.values)
        # Set the output area's state instead of capturing display() in it: a headless executor
        # (nbclient, the book build) then has no output capture to mimic, which could stall it.
        self.output.outputs = ()
        self.output.append_display_data(self.figure)
        plt.close(self.figure)  # shown in the output area; keep the inline backend from showing it twice

    def static_html(self, max_views: int | None = None, progress: bool = False) -> str:
        """The explorer's static form: :func:`facedid_lib.viz.static_explorer.views` on its grid, rendered
        as one self-contained HTML block (computed once per explorer)."""
        if self._static is None:
            defaults = {p.name: p.default for p in self.params}
            first = self.figure if self.values == defaults else None
            computed = static_explorer.views(self.callback, self.params, self.fixed, self.marks,
                                             max_views or self.max_views, first=first, progress=progress,
                                             kept=self.static_fixed)
            self._static = static_explorer.render(self.title or "Explorer", self.params, computed)
        return self._static

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if static_explorer.wanted():  # the book's build: the site shows this (_config.yml's priority)
            bundle = {**bundle, "text/html": self.static_html()}
        return bundle


def prefixed(owner: str, params: Sequence[Param]) -> list[Param]:
    """``params`` renamed ``<owner>_<name>``: controls of several owners side by side."""
    return [dataclasses.replace(p, name=f"{owner}_{p.name}", help=f"{owner}: {p.help}") for p in params]


def own_values(owner: str, values: dict) -> dict:
    """The values of ``owner``'s controls (see :func:`prefixed`), without the prefix."""
    prefix = f"{owner}_"
    return {name[len(prefix):]: value for name, value in values.items() if name.startswith(prefix)}


def detector_view(photos: dict, photo: str, detector: str, **params):
    """The figure of one photo with one detector's boxes (the detector explorer's callback).

    ``params`` holds every detector's parameters, named ``<detector>_<parameter>``; only
    ``detector``'s are used.
    """
    from facedid_lib.detect import detect
    from facedid_lib.viz import plotting

    found = detect(photos[photo], detector, **own_values(detector, params))
    fig = plotting.detections_figure(photos[photo], found, title=f"{detector}: {len(found)} face(s) in {photo}")
    return static_explorer.measured(fig, faces=len(found))


def detector_explorer(photos: dict, detectors: Sequence[str] | None = None) -> Explorer:
    """Choose a photo and a detector, drag its parameters, see the boxes.

    Parameters
    ----------
    photos : ``name -> photo`` (e.g. :func:`facedid_lib.data.facesets.wild_photos`).
    detectors : detector names (:func:`facedid_lib.detect.detect`'s; default: every one of
        :func:`facedid_lib.detect.detector_names`); each one's parameters get their own controls, named
        ``<detector>_<parameter>``.
    """
    from facedid_lib import detect

    detectors = tuple(detectors or detect.detector_names())
    if not photos:
        raise ValueError("photos is empty")
    params = [Param("photo", next(iter(photos)), "the photo", choices=tuple(photos)),
              Param("detector", detectors[0], "the face detector", choices=tuple(detectors))]
    for name in detectors:
        params += prefixed(name, detect.detector_params(name))
    return Explorer(detector_view, params, title="Face detectors on the wild photos", photos=photos)


def method_view(images, method: str, labels=None, recognizer=None, context: dict | None = None, **params):
    """Clean faces, the method's output and the magnified change, with metrics (a callback).

    Titles give each output's SSIM and, with a ``recognizer`` (``images -> (N,) labels``) and the
    true ``labels``, the identity it predicts (✓ right, ✗ wrong); the figure's title gives the mean
    SSIM, L2 and, with a recognizer, the misclassification rate. ``context`` holds the
    prerequisites methods may need (name -> object, e.g. ``{"space": space}`` for the eigenface
    methods, ``{"autoencoder": ae}``); each method takes what it needs from it, and what is not
    there is made by the method's provider (:func:`facedid_lib.methods.provide`) from
    ``FACEDID_DATA``, trained once and cached.
    """
    from facedid_lib import evaluate, metrics, methods

    spec = methods.get(method)
    given = spec.pick(context)
    if set(spec.needs) - set(given):  # a prerequisite not given: its provider makes it (trained once, cached)
        made = methods.provide(spec, size=images.shape[-1], device=images.device, **params)
        given = {**made, **given}
    new = spec(images, **given, **params)
    ssim, l2 = metrics.ssim(new, images).cpu(), metrics.l2_norm(new, images).cpu()
    n = min(len(images), 6)
    titles = [f"SSIM {float(s):.2f}" for s in ssim[:n]]
    summary = f"{method}: mean SSIM {float(ssim.mean()):.3f}, L2 {float(l2.mean()):.1f}"
    numbers = {"SSIM": round(float(ssim.mean()), 3), "L2": round(float(l2.mean()), 1)}
    if recognizer is not None and labels is not None:
        predicted = torch.as_tensor(recognizer(new)).cpu()
        titles = [f"{t}, id {int(p)} {'✓' if p == y else '✗'}" for t, p, y in zip(titles, predicted, labels)]
        numbers["MR"] = round(metrics.misclassification_rate(predicted, labels.cpu()), 2)
        summary += f", MR {numbers['MR']:.2f}"
    fig = figures.perturbation_figure(images, new, n=n, titles=["clean"] * n + titles + ["|change| x 10"] * n)
    fig.suptitle(summary, fontsize=10)
    fig.tight_layout()
    return static_explorer.measured(fig, **numbers)


def trained_on(method: str) -> tuple[str, ...]:
    """The parameters of ``method`` that select a trained network (its providers' ``trained_on``): an
    explorer's static form keeps them at their defaults, or, where no other parameter is left, takes
    one other value (trained once, in the trained-model cache: about 15 s for the attribute autoencoder on
    one core)."""
    from facedid_lib import methods

    spec = methods.get(method)
    return tuple(dict.fromkeys(name for need in spec.needs for name in methods.PROVIDERS[need].trained_on))


def method_explorer(method: str, images, labels=None, recognizer=None, context: dict | None = None) -> Explorer:
    """Drag a registered method's parameters and watch a few faces change (see :func:`method_view`)."""
    from facedid_lib import methods

    spec = methods.get(method)
    kept = trained_on(method)
    static = dict(static_fixed=kept) if set(p.name for p in spec.params) - set(kept) else dict(max_views=2)
    return Explorer(method_view, spec.params, title=f"{spec.name}: {spec.summary}", images=images,
                    method=method, labels=labels, recognizer=recognizer, context=context, **static)


def _methods_view(images, labels, recognizer, context, method: str, **params):
    return method_view(images, method, labels, recognizer, context, **own_values(method, params))


def methods_explorer(names: Sequence[str], images, labels=None, recognizer=None,
                     context: dict | None = None) -> Explorer:
    """Choose a method from ``names``, drag its parameters, see faces, change and metrics.

    Each method keeps its own controls, named ``<method>_<parameter>``; see :func:`method_view`.
    """
    from facedid_lib import methods

    if not names:
        raise ValueError("names is empty")
    params = [Param("method", names[0], "the de-identification method", choices=tuple(names))]
    for name in names:
        params += prefixed(name, methods.get(name).params)
    kept = [f"{name}_{p}" for name in names for p in trained_on(name)]
    return Explorer(_methods_view, params, title="De-identification methods", images=images, labels=labels,
                    recognizer=recognizer, context=context, static_fixed=kept)


#: Chapter 5's choice for :func:`attack_explorer`: the three attacks of the P-FGVM paper's tables
#: (keys of :data:`facedid_lib.attacks.adversarial.ATTACKS`; the explorer shows their titles).
ATTACK_CHOICES = ("p-fgvm", "i-fgvm", "i-fgsm")


def _face_rows(fig, grid, rows, n: int) -> None:
    """Draw ``rows`` (``(images, titles)`` pairs) as the first ``n`` columns of ``grid``, one row each."""
    for r, (batch, titles) in enumerate(rows):
        for c in range(n):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(as_display(batch[c]))
            ax.set_title(titles[c], fontsize=7)
            ax.axis("off")


def _attack_titles(attacks: Sequence[str]) -> tuple[str, ...]:
    """The titles (``name``) of the attacks ``attacks`` (keys or titles of
    :data:`facedid_lib.attacks.adversarial.ATTACKS`), without repeats: an explorer's choices."""
    from facedid_lib.attacks import adversarial

    if isinstance(attacks, str) or not attacks:
        raise ValueError(f"attacks must be a non-empty sequence of attack names, got {attacks!r}")
    return tuple(dict.fromkeys(adversarial.ATTACKS[name].name for name in attacks))


def attack_view(model, images, labels, attack: str, target: str, **params):
    """Clean faces, the attack's faces, ``|perturbation| x 10`` and its loss curve (a callback).

    ``attack`` is a key or title of :data:`facedid_lib.attacks.adversarial.ATTACKS`; ``params``
    holds every attack's parameters, named ``<title>_<parameter>`` (see :func:`attack_explorer`);
    only ``attack``'s are used. Titles give each face's predicted identity and SSIM; the curve
    shows the mean loss and success rate per iteration.
    """
    from facedid_lib import metrics
    from facedid_lib.attacks import adversarial

    cls = adversarial.ATTACKS[attack]
    attack = cls.name
    method = cls(model, target=target, **own_values(attack, params))
    new = method(images, labels)
    with torch.no_grad():
        device = module_device(model, images.device)
        before = model(images.to(device)).argmax(1).cpu()
        after = model(new.to(device)).argmax(1).cpu()
    ssim = metrics.ssim(new, images).cpu()
    l2 = metrics.l2_norm(new, images).cpu()
    n = min(len(images), 5)
    fig = plt.figure(figsize=(1.7 * n + 3.6, 5.4))
    grid = fig.add_gridspec(3, n + 2)
    rows = [(images, [f"id {int(b)} (true {int(y)})" for b, y in zip(before, labels)]),
            (new, [f"id {int(a)}, SSIM {float(s):.3f}" for a, s in zip(after, ssim)]),
            (((new - images).abs() * 10).clamp(0, 1), [f"|p| x 10, L2 {float(v):.2f}" for v in l2])]
    _face_rows(fig, grid, rows, n)
    ax = fig.add_subplot(grid[:, n:])
    history = method.history
    ax.plot(history["loss"], label="mean loss L")
    ax.plot(history["success"], label="success rate")
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    success = metrics.misclassification_rate(after, labels) if method.targets is None else \
        metrics.targeted_success_rate(after, method.targets)
    ax.set_title(f"{attack} ({target}): success {success:.2f}\nmean SSIM {float(ssim.mean()):.3f}, "
                 f"mean L2 {float(l2.mean()):.2f}", fontsize=9)
    fig.tight_layout()
    return static_explorer.measured(fig, success=round(success, 2), SSIM=round(float(ssim.mean()), 3),
                                    L2=round(float(l2.mean()), 2))


def attack_explorer(model, images, labels, attacks: Sequence[str] = ATTACK_CHOICES) -> Explorer:
    """Choose an attack and its parameters (α, N, ε, λ, target) and watch a few faces change.

    ``attacks`` are keys or titles of :data:`facedid_lib.attacks.adversarial.ATTACKS`; the
    explorer shows their titles. Each attack keeps its own α, N and ε or λ (named
    ``<title>_<parameter>``): α means a signed step for I-FGSM and a multiple of the raw gradient
    for I-FGVM and P-FGVM.
    """
    from facedid_lib.attacks import adversarial

    titles = _attack_titles(attacks)
    params = [Param("attack", titles[0], "the attack", choices=titles),
              Param("target", "untargeted", "whom the faces should be recognised as",
                    choices=adversarial.TARGET_MODES)]
    for title in titles:
        own = [p for p in adversarial.ATTACKS[title].params if p.name != "target"]
        params += prefixed(title, own)
    return Explorer(attack_view, params, title="Adversarial de-identification", max_views=12, model=model,
                    images=images, labels=labels)


#: Chapter 6's choice for :func:`rank_explorer`: k-A^3 and the three minimal attacks it is compared
#: with (keys of :data:`facedid_lib.attacks.adversarial.ATTACKS`; the explorer shows their titles).
RANK_ATTACKS = ("k-a3", "cw", "deepfool", "l-bfgs")


def rank_view(model, images, labels, attack: str, **params):
    """Clean faces, the attack's faces, ``|perturbation| x 10`` and where the true label went (a callback).

    Titles give the rank of the true label ``y`` in the model's output before and after the
    attack (rank 1: recognised); the right panel is the share of the faces whose ``y`` sits at
    each rank, with the ``1/k`` line of k-A^3 (the lecture's k-anonymity requirement
    ``P(r(i) = y) <= 1/k``). ``attack`` is a key or title of
    :data:`facedid_lib.attacks.adversarial.ATTACKS`; ``params`` holds every attack's parameters,
    named ``<title>_<parameter>``; only ``attack``'s are used.
    """
    from facedid_lib import metrics
    from facedid_lib.attacks import adversarial

    cls = adversarial.ATTACKS[attack]
    attack = cls.name
    method = cls(model, **own_values(attack, params))
    new = method(images, labels)
    device = module_device(model, images.device)
    with torch.no_grad():
        before = metrics.true_label_rank(model(images.to(device)).cpu(), labels.cpu())
        after = metrics.true_label_rank(model(new.to(device)).cpu(), labels.cpu())
    ssim = metrics.ssim(new, images).cpu()
    n = min(len(images), 5)
    fig = plt.figure(figsize=(1.7 * n + 3.8, 5.4))
    grid = fig.add_gridspec(3, n + 2)
    rows = [(images, [f"rank of y: {int(r)}" for r in before]),
            (new, [f"rank of y: {int(r)}, SSIM {float(s):.3f}" for r, s in zip(after, ssim)]),
            (((new - images).abs() * 10).clamp(0, 1), ["|p| x 10"] * n)]
    _face_rows(fig, grid, rows, n)
    ax = fig.add_subplot(grid[:, n:])
    k = getattr(method, "k", None)
    shown = max(6, (k or 0) + 2)
    probability = metrics.rank_probability(after, max(shown, int(after.max())))[:shown]
    ax.bar(np.arange(1, shown + 1), probability.numpy(), color="tab:blue")
    if k:
        ax.axhline(1 / k, color="tab:red", ls="--", label=f"1/k = 1/{k}")
        ax.legend(fontsize=8)
    ax.set_xlabel("rank i")
    ax.set_ylabel("P(r(i) = y)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    moved = float((after > 1).float().mean())
    ax.set_title(f"{attack}: r(1) != y for {moved:.2f} of {len(after)} faces\n"
                 f"mean SSIM {float(ssim.mean()):.3f}", fontsize=9)
    fig.tight_layout()
    return static_explorer.measured(fig, **{"r(1) != y": round(moved, 2), "SSIM": round(float(ssim.mean()), 3)})


def rank_explorer(model, images, labels, attacks: Sequence[str] = RANK_ATTACKS) -> Explorer:
    """Choose an attack of chapter 6 and its parameters (k, the SSIM weight, iterations) and see where ``y`` goes.

    ``attacks`` are keys or titles of :data:`facedid_lib.attacks.adversarial.ATTACKS`; the
    explorer shows their titles and names each one's controls ``<title>_<parameter>``.
    """
    from facedid_lib.attacks import adversarial

    titles = _attack_titles(attacks)
    params = [Param("attack", titles[0], "the attack", choices=titles)]
    for title in titles:
        params += prefixed(title, [p for p in adversarial.ATTACKS[title].params if p.name != "target"])
    return Explorer(rank_view, params, title="Where the true label goes: k-anonymity of an attack", max_views=3,
                    marks={"attack": ("DeepFool",), "k-A^3_k": (9, 10)}, model=model, images=images, labels=labels)


OUTCOME_COLOURS = {"succeeded": "tab:red", "failed": "tab:gray", "detected": "tab:green"}


def defence_view(defence, images, labels, attacked: dict, attack: str, a: float, rule: str, log10_T: float):
    """The m-SVDD rule on attacked faces: outcome counts and every face's activation against T (a callback).

    ``defence`` a fitted :class:`facedid_lib.defences.svdd.MSVDD`; ``images``, ``labels`` the clean
    faces; ``attacked`` ``label -> (N, 3, H, W)`` the same faces after each attack on the defended
    network (e.g. :attr:`facedid_lib.evaluate.DefenceResults.defended`), so moving a slider only
    re-applies the rule. ``rule``: ``"T(a)"`` (T read from the calibration faces at ``a``) or
    ``"T"`` (``T = 10 ** log10_T``, chosen by hand). Left: how many attacks succeeded, failed
    (the true label came back) and were detected (rejected); right: ``log10 max_j g_j`` of
    every clean and attacked face, with the line ``log10 T`` (below it: rejected).
    """
    from facedid_lib import metrics

    if attack not in attacked:
        raise ValueError(f"attack must be one of {tuple(attacked)}, got {attack!r}")
    rule_kw = dict(a=a) if rule == "T(a)" else dict(T=10.0 ** log10_T)
    log_t = defence.log_threshold(a) if rule == "T(a)" else log10_T * np.log(10.0)
    new = attacked[attack]
    counts = metrics.outcomes(defence.classify(new, **rule_kw), labels)
    clean_counts = metrics.outcomes(defence.classify(images, **rule_kw), labels)
    to_log10 = 1 / np.log(10.0)
    clean = defence.log_activations(images).amax(1).numpy() * to_log10
    after = defence.log_activations(new).amax(1).numpy() * to_log10
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    names = ["succeeded", "failed", "detected"]
    left.bar(names, [counts[k] for k in names], color=[OUTCOME_COLOURS[k] for k in names])
    for i, k in enumerate(names):
        left.text(i, counts[k], str(counts[k]), ha="center", va="bottom", fontsize=9)
    left.set_ylim(0, counts["n"] * 1.15)
    left.set_ylabel("faces")
    left.set_title(f"{attack} on the defended network, {counts['n']} faces\n"
                   f"clean faces: {clean_counts['detected']} falsely rejected", fontsize=9)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=len(after))
    right.scatter(clean, 0 + jitter[:len(clean)], s=14, color="tab:blue", label="clean")
    right.scatter(after, 1 + jitter, s=14, c=["tab:green" if v < log_t * to_log10 else "tab:red" for v in after],
                  label=f"after {attack}")
    right.axvline(log_t * to_log10, color="black", ls="--", label=f"log10 T = {log_t * to_log10:.2f}")
    right.set_yticks([0, 1], ["clean", attack])
    right.set_xlabel("log10 max_j g_j (left of the line: rejected, class m + 1)")
    right.legend(fontsize=8, loc="best")
    right.grid(alpha=0.3)
    fig.tight_layout()
    return static_explorer.measured(fig, **{k: counts[k] for k in names},
                                    **{"clean falsely rejected": clean_counts["detected"]})


def defence_explorer(defence, images, labels, attacked: dict) -> Explorer:
    """Choose an attack, the defence parameter a or T itself, and see the outcomes change (no attack reruns)."""
    params = [Param("attack", next(iter(attacked)), "the attack (run on the defended network)",
                    choices=tuple(attacked)),
              Param("a", 1.0, "a, the share of the calibration faces the rule accepts", low=0.5, high=1.0, step=0.005),
              Param("rule", "T(a)", "T from the calibration faces at a, or T by hand", choices=("T(a)", "T")),
              Param("log10_T", -3.0, "log10 T (rule 'T')", low=-40.0, high=-0.05, step=0.05)]
    return Explorer(defence_view, params, title="m-SVDD: the minimum activation T against the attacks",
                    marks={"a": (0.97,)}, defence=defence, images=images, labels=labels, attacked=attacked)


#: Box colours, given to the registered detectors in the registry's order (hog, haar, mmod, yunet, then new ones).
DETECTOR_PALETTE = ("orange", "deepskyblue", "lime", "magenta", "gold", "red", "cyan", "white")


def detector_colours(attacked: str = "mmod") -> dict:
    """The detectors de-detection is measured against (the ``attacked`` one first), each with its colour."""
    import itertools

    from facedid_lib.attacks.dedetection import measured_detectors
    from facedid_lib.detect import detector_names

    colour = dict(zip(detector_names(), itertools.cycle(DETECTOR_PALETTE)))
    return {name: colour[name] for name in measured_detectors(attacked)}


def dedetection_view(photos: dict, photo: str, eps_levels: int, steps: int, attacked: str = "mmod"):
    """A photo before and after de-detection from the differentiable detector ``attacked``, every
    detector's boxes, and ``|change| x 10``.

    ``eps_levels`` is ε in grey levels (ε = eps_levels / 255); a callback of
    :func:`dedetection_explorer`. MMOD's boxes are lime, HOG's orange, Haar's blue, YuNet's magenta.
    """
    from facedid_lib.detect import detect
    from facedid_lib.viz import plotting
    from facedid_lib.attacks import dedetection

    clean = photos[photo]
    new = (dedetection.hide_faces(clean, eps=eps_levels / 255, steps=steps, detector=attacked)[0] if eps_levels
           else clean)
    change = np.abs(new.astype(np.float32) - clean) / 255
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4 * clean.shape[0] / clean.shape[1] + 0.6))
    hidden = "de-detected" if attacked == "mmod" else f"hidden from {attacked}"
    numbers = {}
    for ax, image, title in [(axes[0], clean, "clean"), (axes[1], new, f"{hidden}, ε = {eps_levels}/255")]:
        ax.imshow(image)
        counts = []
        for name, colour in detector_colours(attacked).items():
            found = detect(image, name)
            plotting.draw_detections(ax, found, color=colour, label_scores=False)
            counts.append(f"{name} {len(found)}")
            if image is new:
                numbers[f"{name} after"] = len(found)
        ax.set_title(f"{title}\n{', '.join(counts)}", fontsize=9)
    axes[2].imshow(np.clip(change * 10, 0, 1))
    axes[2].set_title(f"|change| x 10 (L2 {np.linalg.norm(change):.2f})", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return static_explorer.measured(fig, **numbers)


def dedetection_explorer(photos: dict) -> Explorer:
    """Choose a wild photo, ε, the number of steps and the detector attacked, and see which
    detectors still find the faces."""
    from facedid_lib.detect import detector_names, get_detector

    if not photos:
        raise ValueError("photos is empty")
    attackable = tuple(name for name in detector_names() if get_detector(name).differentiable)
    params = [Param("photo", next(iter(photos)), "the photo", choices=tuple(photos)),
              Param("eps_levels", 4, "ε in grey levels (of 255)", low=0, high=16, step=1),
              Param("steps", 10, "iterations of the attack", low=1, high=40, step=1),
              Param("attacked", "mmod", "the detector the attack sees", choices=attackable)]
    return Explorer(dedetection_view, params, title="De-detection: hide the faces from a detector", max_views=8,
                    marks={"eps_levels": (8,)}, photos=photos)


ATTRIBUTE_SWITCH = ("PPAS", "yes", "no")


def gan_view(gan, images, labels, recognizer, target: int, t: float, eps: float, seed: int = 0, **switches):
    """AnonymousNet on a few faces: original, the generator's input, the output, with stage II's attributes.

    ``gan``: :func:`facedid_lib.nets.generator.gan`'s result; ``recognizer`` ``images -> (N,)
    labels`` and the true ``labels`` give each output's verdict (✓ still recognised, ✗ not).
    ``target``: the target identity (-1: a random one per face); ``t``, ``eps``: PPAS's threshold
    and flip probability; ``switches``: one per attribute of :data:`facedid_lib.methods.gan.ATTRIBUTES`,
    ``"PPAS"`` (stage II decides), ``"yes"`` or ``"no"`` (forced).
    """
    from facedid_lib.methods import gan as gan_methods
    from facedid_lib.nets import generator as gen

    unknown = sorted(set(switches) - set(gan_methods.ATTRIBUTES))
    if unknown:
        raise ValueError(f"no attribute {', '.join(unknown)}; attributes: {', '.join(gan_methods.ATTRIBUTES)}")
    for name, choice in switches.items():
        if choice not in ATTRIBUTE_SWITCH:
            raise ValueError(f"{name} must be one of {ATTRIBUTE_SWITCH}, got {choice!r}")
    n = min(len(images), 4)
    images, labels = images[:n], labels[:n].cpu()
    result = gan_methods.anonymize(images, gan, t, eps, target, seed,
                                   force={name: c == "yes" for name, c in switches.items() if c != "PPAS"})
    new, released, targets, points = result.images, result.selection.released, result.targets, result.points
    x, mask, landmarks = gen.generator_inputs(images, gan.generator.size, points)
    shown_input = (x * (1 - mask)).clamp(0, 1)
    shown_input = torch.maximum(shown_input, landmarks.expand_as(shown_input))
    predicted = torch.as_tensor(recognizer(new)).cpu()
    short = {"Male": "male", "Young": "young", "Smiling": "smile", "Mouth_Slightly_Open": "mouth open"}
    fig, axes = plt.subplots(3, n, figsize=(2.1 * n, 6.9), squeeze=False)
    for i in range(n):
        said = ", ".join(f"{'' if v else 'not '}{short[a]}" for a, v in zip(gan_methods.ATTRIBUTES, released[i].tolist()))
        verdict = "✓ recognised" if predicted[i] == labels[i] else "✗ not recognised"
        for row, (img, title) in enumerate([(images[i], f"original, id {int(labels[i])}"),
                                            (shown_input[i], "masked input + landmarks"),
                                            (new[i], f"target {int(targets[i])}: {verdict}\n{said}")]):
            axes[row, i].imshow(as_display(img))
            axes[row, i].set_title(title, fontsize=7)
            axes[row, i].axis("off")
    missed = int((predicted != labels).sum())
    fig.suptitle(f"AnonymousNet, t = {t:g}, ε = {eps:g}: {missed} of {n} not recognised", fontsize=10)
    fig.tight_layout()
    return static_explorer.measured(fig, **{"not recognised": missed, "of": n})


def gan_explorer(gan, images, labels, recognizer) -> Explorer:
    """Target identity, t, ε and the attribute switches -> the generated faces and the recognizer's verdicts."""
    from facedid_lib.methods import gan as gan_methods

    params = [Param("target", -1, "the target identity (-1: a random one per face)", low=-1,
                    high=gan.n_identities - 1, step=1),
              Param("t", 0.3, "PPAS's t-closeness threshold", low=0.0, high=1.0, step=0.05),
              Param("eps", 0.0, "probability of flipping each selected attribute", low=0.0, high=0.5, step=0.05),
              Param("seed", 0, "seed of the random targets and flips", low=0, high=20, step=1)]
    params += [Param(name, "PPAS", f"{name}: chosen by PPAS, or forced", choices=ATTRIBUTE_SWITCH)
               for name in gan_methods.ATTRIBUTES]
    return Explorer(gan_view, params, title="AnonymousNet: target identity, t, ε and the attributes",
                    gan=gan, images=images, labels=labels, recognizer=recognizer)
