"""De-identification methods, one module per lecture family, one registry for all.

A method is a callable ``method(images, **params) -> images`` on ``N x 3 x H x W`` float tensors in
[0, 1]; :func:`register` records it with its :class:`~facedid_lib.core.params.Param` declarations, so
widgets, the command line and the evaluation harness can find and drive it by name.

Some methods need more than parameters: a model fitted or trained on training faces (``needs``,
e.g. the eigenface methods need ``space``, a :class:`~facedid_lib.methods.reconstruction.FaceSpace`;
the autoencoder methods an ``autoencoder``), or the whole set of faces at once (``whole_set``:
k-Same averages faces across the set). Each such prerequisite is declared once as a
:class:`Provider` (:func:`provider`), which knows how to make it from a face folder; the command
line, the widgets and the benchmark ask :func:`provide` and never name a prerequisite themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from facedid_lib.core import params as _params
from facedid_lib.core.checks import check_images
from facedid_lib.core.params import Param


@dataclass(frozen=True)
class Method:
    """A registered de-identification method: ``Method(images, **params)`` validates and runs it."""

    name: str
    fn: Callable
    params: tuple[Param, ...]
    family: str
    summary: str
    needs: tuple[str, ...] = ()
    whole_set: bool = False

    def __call__(self, images, **given):
        check_images(images)
        context = {}
        for need in self.needs:
            if need not in given:
                raise ValueError(f"{self.name} needs {need}=: {PROVIDERS[need].help}")
            context[need] = given.pop(need)
        return self.fn(images, **context, **_params.resolve(self.params, given, self.name))

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def pick(self, available: dict | None) -> dict:
        """The prerequisites this method needs, taken from ``available`` (name -> object)."""
        available = available or {}
        return {need: available[need] for need in self.needs if need in available}


@dataclass(frozen=True)
class Provider:
    """A prerequisite of some methods, and how to make it from a folder of training faces.

    ``build(faces, size, device, progress, params)`` returns the object: ``faces`` is a face folder
    as :func:`facedid_lib.data.facesets.load_faces` reads it (None: ``FACEDID_DATA``), ``size`` the chip size
    the method will see, ``params`` the method's resolved parameters. ``help`` says what it is.
    """

    name: str
    help: str
    build: Callable


REGISTRY: dict[str, Method] = {}
PROVIDERS: dict[str, Provider] = {}


def provider(name: str, help: str):
    """Decorator: register ``build`` as the :class:`Provider` of the prerequisite ``name``."""

    def decorate(build):
        if name in PROVIDERS:
            raise ValueError(f"a provider of {name!r} is already registered")
        PROVIDERS[name] = Provider(name, help, build)
        return build

    return decorate


def provide(method: "Method | str", faces: Path | str | None = None, size: int = 192, device=None,
            progress: bool = False, **params) -> dict:
    """Everything ``method`` needs besides its parameters, made by the providers (name -> object).

    ``faces`` is the folder of training faces (None: ``FACEDID_DATA``); ``params`` the method's own
    parameters (a face space keeps as many eigenfaces as the method uses).
    """
    method = get(method) if isinstance(method, str) else method
    resolved = _params.resolve(method.params, params, method.name)
    return {need: PROVIDERS[need].build(faces, size, device, progress, resolved) for need in method.needs}


def register(name: str, family: str, *params: Param, needs: tuple[str, ...] = (), whole_set: bool = False):
    """Decorator: register ``fn`` under ``name`` with its parameter declarations.

    The first line of ``fn``'s docstring becomes the method's one-line summary. ``needs`` names
    keyword arguments that are not parameters (fitted models, each made by a registered
    :class:`Provider`); ``whole_set`` says that the method must see all faces in one call.
    """

    def decorate(fn):
        if name in REGISTRY:
            raise ValueError(f"a method named {name!r} is already registered")
        unknown = sorted(set(needs) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"no provider of {unknown}; registered: {sorted(PROVIDERS)}")
        summary = (fn.__doc__ or name).strip().splitlines()[0]
        REGISTRY[name] = Method(name, fn, tuple(params), family, summary, tuple(needs), whole_set)
        return fn

    return decorate


def get(name: str) -> Method:
    """The registered method ``name``; a clear error lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(REGISTRY))}") from None


from facedid_lib.methods import autoencoder, classical, gan, ksame, reconstruction, san  # noqa: E402,F401  (register their methods)
