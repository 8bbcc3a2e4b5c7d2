"""De-identification methods, one module per lecture family, one registry for all.

A method is a callable ``method(images, **params) -> images`` on ``N x 3 x H x W`` float tensors in
[0, 1]; :func:`register` records it with its :class:`~facedid_lib.params.Param` declarations, so
widgets, the command line and the evaluation harness can find and drive it by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .. import params as _params
from ..checks import check_images
from ..params import Param


@dataclass(frozen=True)
class Method:
    """A registered de-identification method: ``Method(images, **params)`` validates and runs it."""

    name: str
    fn: Callable
    params: tuple[Param, ...]
    family: str
    summary: str

    def __call__(self, images, **given):
        check_images(images)
        return self.fn(images, **_params.resolve(self.params, given, self.name))

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


REGISTRY: dict[str, Method] = {}


def register(name: str, family: str, *params: Param):
    """Decorator: register ``fn`` under ``name`` with its parameter declarations.

    The first line of ``fn``'s docstring becomes the method's one-line summary.
    """

    def decorate(fn):
        if name in REGISTRY:
            raise ValueError(f"a method named {name!r} is already registered")
        summary = (fn.__doc__ or name).strip().splitlines()[0]
        REGISTRY[name] = Method(name, fn, tuple(params), family, summary)
        return fn

    return decorate


def get(name: str) -> Method:
    """The registered method ``name``; a clear error lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(REGISTRY))}") from None


from . import classical  # noqa: E402,F401  (registers the classical methods)
