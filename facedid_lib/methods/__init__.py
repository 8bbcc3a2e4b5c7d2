"""De-identification methods, one module per lecture family, one registry for all.

A method is a callable ``method(images, **params) -> images`` on ``N x 3 x H x W`` float tensors in
[0, 1]; :func:`register` records it with its :class:`~facedid_lib.params.Param` declarations, so
widgets, the command line and the evaluation harness can find and drive it by name.

Some methods need more than parameters: a model fitted on training faces (``needs``, e.g. the
eigenface methods need ``space``, a :class:`~facedid_lib.methods.reconstruction.FaceSpace`), or the
whole set of faces at once (``whole_set``: k-Same averages faces across the set).
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
    needs: tuple[str, ...] = ()
    whole_set: bool = False

    def __call__(self, images, **given):
        check_images(images)
        context = {}
        for need in self.needs:
            if need not in given:
                raise ValueError(f"{self.name} needs {need}=: {NEEDS[need]}")
            context[need] = given.pop(need)
        return self.fn(images, **context, **_params.resolve(self.params, given, self.name))

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}


REGISTRY: dict[str, Method] = {}

#: What each kind of ``needs`` is, for the error a call without it gets.
NEEDS = {"space": "a FaceSpace fitted on training faces, reconstruction.FaceSpace.fit(train.images)"}


def register(name: str, family: str, *params: Param, needs: tuple[str, ...] = (), whole_set: bool = False):
    """Decorator: register ``fn`` under ``name`` with its parameter declarations.

    The first line of ``fn``'s docstring becomes the method's one-line summary. ``needs`` names
    keyword arguments that are not parameters (fitted models, see :data:`NEEDS`); ``whole_set``
    says that the method must see all faces in one call.
    """

    def decorate(fn):
        if name in REGISTRY:
            raise ValueError(f"a method named {name!r} is already registered")
        unknown = sorted(set(needs) - set(NEEDS))
        if unknown:
            raise ValueError(f"unknown needs {unknown}; known: {sorted(NEEDS)}")
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


from . import classical, ksame, reconstruction  # noqa: E402,F401  (register their methods)
