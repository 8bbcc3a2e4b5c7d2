"""The method registry: :class:`Method`, :class:`Provider`, :data:`REGISTRY` and :data:`PROVIDERS`,
and :func:`register`, :func:`provider`, :func:`get`, :func:`provide`.

The method modules import these from here, and the package :mod:`facedid_lib.methods` imports
the method modules (which registers their methods) and re-exports these names, so no module and
its package import each other. Both registries are
:class:`~facedid_lib.core.registry.Registry` objects: :data:`REGISTRY` keyed by kebab-case
method names (``"k-same-pixel"``), :data:`PROVIDERS` by the keyword argument that hands the
prerequisite to a method (``"space"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from facedid_lib.core import params as _params
from facedid_lib.core.checks import check_images
from facedid_lib.core.params import Param
from facedid_lib.core.registry import Registry


#: What a method covers: the aligned inner face (a chip, pasted back), or the whole head in the photo.
REGIONS = ("inner", "head")
#: What a method's head form is given: one head's window at a time, or every head of the photo at once.
HEAD_VIEWS = ("region", "photo")


@dataclass(frozen=True)
class Method:
    """A registered de-identification method: ``Method(images, **params)`` validates and runs it.

    ``params`` are the library's parameters, in the units of the aligned chips the chapters use
    (blur's ``sigma`` in pixels of a 192-pixel chip). ``command`` are the parameters the
    ``facedid`` command and :func:`facedid_lib.pipeline.deidentify_photo` with ``cover="head"``
    take instead: lengths relative to the face (``face_sigma``, a fraction of the face's width,
    for ``sigma``; ``lengths`` says which library parameter each one sets) and defaults measured
    as protective, where the library's defaults are the lecture's weak settings. ``head`` is the
    function that covers a face's whole head in the photo (None: the method only works on aligned
    chips, like the generative methods and the eye bar). ``head_sees`` says what that function is
    given: ``"region"``, the window around one head at a time (the classical methods), or
    ``"photo"``, a window holding every head of the photo at once, with the mask of the heads and
    the faces' chip transforms (the adversarial methods, whose detectors and recognizers look at
    the whole scene).
    """

    name: str
    fn: Callable
    params: tuple[Param, ...]
    family: str
    summary: str
    needs: tuple[str, ...] = ()
    whole_set: bool = False
    command: tuple[Param, ...] = ()
    lengths: tuple[tuple[str, str], ...] = ()  #: (command parameter, library parameter in pixels)
    head: Callable | None = None
    head_sees: str = "region"

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

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions this method can cover (``"inner"`` always; ``"head"`` with a head form)."""
        return REGIONS if self.head is not None else ("inner",)

    @property
    def region(self) -> str:
        """The region the command covers by default: the head where the method has a head form."""
        return "head" if self.head is not None else "inner"

    def command_params(self) -> tuple[Param, ...]:
        """The parameters of the command: the library's, with each one that ``command`` replaces
        (by name, or through ``lengths``) replaced in place."""
        replaces = dict(self.lengths)
        by_target = {replaces.get(p.name, p.name): p for p in self.command}
        return tuple(by_target.get(p.name, p) for p in self.params)

    def on_chips(self, face_width: float) -> "CommandOnChips":
        """The method as the command runs it on aligned chips whose face is ``face_width`` pixels
        wide: it takes the command's parameters (:meth:`command_params`, checked there) and turns
        each length into the chip's pixels (:meth:`to_pixels`)."""
        return CommandOnChips(self, float(face_width))

    def for_command(self, cover: str, size: int = 192, padding: float = 0.4):
        """What the pipeline runs with the command's parameters: the method itself to cover the head
        (its head form takes them), or on chips of ``size`` pixels with ``padding`` its command form
        (:meth:`on_chips`, the face ``size / (1 + 2 padding)`` pixels wide)."""
        if cover not in REGIONS:
            raise ValueError(f"cover must be one of {REGIONS}, got {cover!r}")
        return self if cover == "head" else self.on_chips(size / (1 + 2 * padding))

    def to_pixels(self, values: dict, face_width) -> dict:
        """The library's parameters from the command's ``values``: each length times ``face_width``
        (pixels; an int parameter rounded, at least 1), the others as they are."""
        kinds = {p.name: p for p in self.params}
        replaces = dict(self.lengths)
        out = {}
        for name, value in values.items():
            if name in replaces:
                target = replaces[name]
                pixels = value * face_width
                out[target] = max(1, int(round(float(pixels)))) if isinstance(kinds[target].default, int) else pixels
            else:
                out[name] = value
        return out

    def pick(self, available: dict | None) -> dict:
        """The prerequisites this method needs, taken from ``available`` (name -> object)."""
        available = available or {}
        return {need: available[need] for need in self.needs if need in available}


@dataclass(frozen=True)
class CommandOnChips:
    """:meth:`Method.on_chips`: ``runner(chips, **command_values_and_needs)``. The command's values
    are checked against the command's declarations; the lengths made of them are not held to the
    library's pixel ranges (those bound the chapters' sliders), only the other parameters are."""

    method: Method
    face_width: float

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def whole_set(self) -> bool:
        return self.method.whole_set

    def __call__(self, images, **given):
        method = self.method
        check_images(images)
        context = {need: given.pop(need) for need in method.needs if need in given}
        missing = [need for need in method.needs if need not in context]
        if missing:
            raise ValueError(f"{method.name} needs {missing[0]}=: {PROVIDERS[missing[0]].help}")
        values = _params.resolve(method.command_params(), given, method.name)
        pixels = method.to_pixels(values, self.face_width)
        lengths = {target for _, target in method.lengths}
        others = _params.resolve([p for p in method.params if p.name not in lengths],
                                 {k: v for k, v in pixels.items() if k not in lengths}, method.name)
        return method.fn(images, **context, **others, **{k: v for k, v in pixels.items() if k in lengths})


@dataclass(frozen=True)
class Provider:
    """A prerequisite of some methods, and how to make it from a folder of training faces.

    ``build(faces, size, device, progress, params)`` returns the object: ``faces`` is a face folder
    as :func:`facedid_lib.data.facesets.load_faces` reads it (None: ``FACEDID_DATA``), ``size`` the chip size
    the method will see, ``params`` the method's resolved parameters. ``help`` says what it is.
    ``trained_on`` names the method's parameters that select which network is trained (another value,
    another training): an explorer's static form keeps them at their defaults.
    """

    name: str
    help: str
    build: Callable
    trained_on: tuple[str, ...] = ()


#: Every de-identification method, by name (``facedid <name>`` on the command line).
REGISTRY: Registry = Registry("method")
#: Every prerequisite of a method, by the keyword argument that hands it to the method.
PROVIDERS: Registry = Registry("provider")


def provider(name: str, help: str, trained_on: tuple[str, ...] = ()):
    """Decorator: register ``build`` as the :class:`Provider` of the prerequisite ``name`` (see
    :class:`Provider` for ``trained_on``)."""

    if not name.isidentifier():
        raise ValueError(f"a provider's name is the keyword argument that hands it to a method, got {name!r}")

    def decorate(build):
        PROVIDERS.register(name, Provider(name, help, build, tuple(trained_on)))
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


def register(name: str, family: str, *params: Param, needs: tuple[str, ...] = (), whole_set: bool = False,
             aliases: tuple[str, ...] = (), command: tuple[Param, ...] = (), lengths: dict | None = None,
             head: Callable | bool | None = None, head_sees: str = "region"):
    """Decorator: register ``fn`` under ``name`` (lowercase kebab-case) with its parameter declarations.

    The first line of ``fn``'s docstring becomes the method's one-line summary. ``needs`` names
    keyword arguments that are not parameters (fitted models, each made by a registered
    :class:`Provider`); ``whole_set`` says that the method must see all faces in one call;
    ``aliases`` are other spellings :func:`get` accepts. ``command``, ``lengths`` (command
    parameter -> library parameter in pixels) and ``head`` (a function on a photo's region with
    the library's parameters in that region's pixels; True: ``fn`` itself) and ``head_sees``
    (``"region"`` or ``"photo"``) are described in :class:`Method`.
    """
    if name in REGISTRY:
        raise ValueError(f"a method named {name!r} is already registered")
    if head_sees not in HEAD_VIEWS:
        raise ValueError(f"head_sees must be one of {HEAD_VIEWS}, got {head_sees!r}")
    unknown = [need for need in needs if need not in PROVIDERS]
    if unknown:
        raise ValueError(f"no provider of {unknown}; registered: {', '.join(PROVIDERS)}")
    lengths = dict(lengths or {})
    names = {p.name for p in params}
    for given in command:
        target = lengths.get(given.name, given.name)
        if target not in names:
            raise ValueError(f"{name}: the command's parameter {given.name!r} replaces no parameter of the method")
    if set(lengths) - {p.name for p in command}:
        raise ValueError(f"{name}: lengths names parameters that command does not declare")

    def decorate(fn):
        summary = (fn.__doc__ or name).strip().splitlines()[0]
        head_form = fn if head is True else (head or None)
        REGISTRY.register(name, Method(name, fn, tuple(params), family, summary, tuple(needs), whole_set,
                                       tuple(command), tuple(lengths.items()), head_form, head_sees),
                          aliases=aliases)
        return fn

    return decorate


def get(name: str) -> Method:
    """The registered method ``name`` (its key or an alias); an unknown name raises
    :class:`~facedid_lib.core.registry.UnknownName` (a ``ValueError``) that lists the known ones."""
    return REGISTRY[name]
