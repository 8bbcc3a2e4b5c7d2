"""The zoo of the course's trained networks: one :class:`Spec` per network and one :func:`trained`.

Every network the course trains itself is a :class:`Spec` in :data:`ZOO` (a
:class:`~facedid_lib.core.registry.Registry`): what network it is and its paper, how it is built,
its training task, its recipe per profile (``quick`` and ``full``, :mod:`facedid_lib.core.config`),
the data split it trains on (:mod:`facedid_lib.data.splits`) and its seed. :func:`trained` builds
it, trains it through :func:`facedid_lib.core.cache.trained` (or loads the cached weights: the key
covers the network's definition, the recipe, the data and the seed) and returns its result (the
network with its data, history and measures).

========================  ============================================  =====================================
name                      network                                       registered in
========================  ============================================  =====================================
``model-a``               the paper's small CNN, trained from scratch   :mod:`facedid_lib.recognize.recognizers`
``model-b``               frozen dlib descriptor + trained head         :mod:`facedid_lib.recognize.recognizers`
``autoencoder``           chapter 3's convolutional autoencoder         :mod:`facedid_lib.nets.autoencoder`
``gender-cnn``            the unseen gender classifier (Model A's CNN)  :mod:`facedid_lib.attributes.gender_cnn`
``san``                   the semi-adversarial network                  :mod:`facedid_lib.nets.san`
``gan``                   chapter 4's conditional generator and critic  :mod:`facedid_lib.nets.generator`
``m-svdd``                the m-SVDD defence of Model A or Model B      :mod:`facedid_lib.defences.svdd`
``m-svdd-end-to-end``     Model A's trunk and m-SVDD trained together   :mod:`facedid_lib.defences.svdd_end_to_end`
========================  ============================================  =====================================

The entries are lazy: this module sits in ``core`` and names each network's module by its import
path; the spec is registered next to its network and imported when first asked for. Adding a
network is one :class:`Spec` and one :func:`register` call in its module, and one :data:`ZOO`
``lazy`` line here.

A recipe is changed through an argument (``trained("autoencoder", recipe=AERecipe(...))``), or,
for code that reaches the network through other layers (the command line, a method's provider),
for a while with :func:`override`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from facedid_lib.core import config
from facedid_lib.core.registry import Registry

__all__ = ["Spec", "ZOO", "register", "spec", "recipe", "trained", "override", "names"]


@dataclass(frozen=True)
class Spec:
    """One trained network of the course.

    Attributes
    ----------
    name : the zoo's key (kebab-case: ``"model-a"``).
    about : what the network is, its paper and its recipe, in a sentence or two.
    network : the class of the trained network (:class:`~facedid_lib.recognize.recognizers.ModelA`...).
    task : its training task: the :class:`~facedid_lib.core.train.Task` (or the fit function) that
        trains it.
    recipes : the recipe of each profile, ``{"quick": ..., "full": ...}`` (instances of one frozen
        dataclass); a recipe handed to :func:`trained` must be of the same class.
    split : ``split(recipe, seed, source)`` returns the data it trains on (a tuple of
        :class:`~facedid_lib.data.facesets.FaceSet`, from :mod:`facedid_lib.data.splits`), or None
        for a network trained on another network's data (the m-SVDD: its recognizer's split).
    fit : ``fit(recipe, splits, *, seed, device, progress, source, **options)`` builds the network
        (seeded), trains it through :func:`facedid_lib.core.cache.trained` or loads it, and returns
        the result; ``splits`` is what ``split`` returned.
    seed : the default seed (of the initialisation, the shuffling and the split).
    """

    name: str
    about: str
    network: type
    task: Any
    recipes: Mapping[str, Any]
    split: Callable | None
    fit: Callable
    seed: int = 0

    def __post_init__(self):
        if set(self.recipes) != set(config.PROFILES):
            raise ValueError(f"{self.name}: recipes must be given for the profiles {config.PROFILES}, "
                             f"got {sorted(self.recipes)}")
        kinds = {type(r) for r in self.recipes.values()}
        if len(kinds) != 1 or not dataclasses.is_dataclass(next(iter(kinds))):
            raise TypeError(f"{self.name}: the recipes must be instances of one dataclass, got {kinds}")

    @property
    def recipe_type(self) -> type:
        """The dataclass of this network's recipes."""
        return type(self.recipes["quick"])

    def recipe(self, profile: str | None = None):
        """The recipe of ``profile`` (None: the active profile, :func:`facedid_lib.core.config.profile`)."""
        profile = config.profile() if profile is None else profile
        if profile not in self.recipes:
            raise ValueError(f"profile must be one of {config.PROFILES}, got {profile!r}")
        return self.recipes[profile]

    def check_recipe(self, recipe):
        """``recipe`` if it is one of this network's recipes, else a TypeError naming the class expected."""
        if not isinstance(recipe, self.recipe_type):
            raise TypeError(f"the recipe of {self.name} must be a {self.recipe_type.__name__}, "
                            f"got {type(recipe).__name__}")
        return recipe


ZOO = Registry("trained network")
ZOO.lazy("model-a", "facedid_lib.recognize.recognizers")
ZOO.lazy("model-b", "facedid_lib.recognize.recognizers")
ZOO.lazy("autoencoder", "facedid_lib.nets.autoencoder")
ZOO.lazy("gender-cnn", "facedid_lib.attributes.gender_cnn")
ZOO.lazy("san", "facedid_lib.nets.san")
ZOO.lazy("gan", "facedid_lib.nets.generator")
ZOO.lazy("m-svdd", "facedid_lib.defences.svdd")
ZOO.lazy("m-svdd-end-to-end", "facedid_lib.defences.svdd_end_to_end")

_OVERRIDES: dict[str, Any] = {}


def register(entry: Spec, aliases: tuple[str, ...] = ()) -> Spec:
    """Add ``entry`` to :data:`ZOO` under its name (a module registers the specs of its networks)."""
    if not isinstance(entry, Spec):
        raise TypeError(f"the zoo holds Spec entries, got {type(entry).__name__}")
    return ZOO.register(entry.name, entry, aliases=aliases)


def names() -> tuple[str, ...]:
    """The names of every trained network, in the zoo's order."""
    return ZOO.names()


def spec(name: str) -> Spec:
    """The :class:`Spec` of ``name`` (a key or an alias; an unknown name lists the known ones)."""
    return ZOO[name]


def recipe(name: str):
    """The recipe :func:`trained` uses for ``name`` when none is given: an :func:`override`, else the profile's."""
    return _chosen(spec(name))


def _chosen(entry: Spec):
    return _OVERRIDES.get(entry.name, entry.recipe())


@contextlib.contextmanager
def override(name: str, recipe) -> Iterator[None]:
    """Within the ``with`` block, train ``name`` with ``recipe`` wherever no recipe is given.

    For code that reaches a network through other layers (the command line, a method's provider,
    the benchmark), where no ``recipe`` argument can be handed in; the previous recipe is restored
    on leaving, also after an error.

    >>> from facedid_lib.nets.autoencoder import AERecipe
    >>> tiny = AERecipe(size=16, code=8, width=4, epochs=1, patience=1)
    >>> with override("autoencoder", tiny):
    ...     recipe("autoencoder") == tiny
    True
    >>> recipe("autoencoder") == spec("autoencoder").recipe()
    True
    """
    entry = spec(name)
    entry.check_recipe(recipe)
    missing = object()
    before = _OVERRIDES.get(entry.name, missing)
    _OVERRIDES[entry.name] = recipe
    try:
        yield
    finally:
        if before is missing:
            _OVERRIDES.pop(entry.name, None)
        else:
            _OVERRIDES[entry.name] = before


def trained(name: str, /, recipe=None, *, seed: int | None = None, device=None, progress: bool = True, source=None,
            **options):
    """The trained network ``name`` of the zoo: trained with its recipe once, then loaded from the cache.

    Parameters
    ----------
    name : a key of :data:`ZOO` (:func:`names`), or an alias.
    recipe : how to train it (an instance of the spec's recipe class); None: :func:`recipe`, the
        active profile's (or an :func:`override`'s).
    seed : seeds the initialisation, the shuffling and the data split; None: the spec's seed.
    device : where it trains and the result lives (None: the library default).
    progress : show progress bars while training.
    source : the face folder (None: ``FACEDID_DATA``).
    options : what the network's ``fit`` takes besides (the SAN's loss weights ``w_gender``,
        ``w_match``, ``w_pixel``; the m-SVDD's recognizer ``of``).

    Returns
    -------
    The network's result dataclass (``Trained``, ``TrainedAE``, ``TrainedSAN``... : the network
    with its data, its training history and its measures; the m-SVDD: an ``MSVDD``).

    Example
    -------
    >>> from facedid_lib.core import zoo
    >>> zoo.names()
    ('model-a', 'model-b', 'autoencoder', 'gender-cnn', 'san', 'gan', 'm-svdd', 'm-svdd-end-to-end')
    >>> zoo.spec("model-a").recipe("quick")
    Recipe(image_size=64, epochs=40, patience=8, lr=0.0001, batch_size=16, weight_decay=0.001)

    Training needs the offline face folder (``FACEDID_DATA``) and seconds of CPU even on a tiny
    recipe, so these lines are not run as doctests:

    >>> from facedid_lib.recognize.recognizers import Recipe
    >>> A = zoo.trained("model-a", Recipe(image_size=32, epochs=2, patience=2), progress=False)  # doctest: +SKIP
    >>> A.train.n_classes, A.model.image_size                                                    # doctest: +SKIP
    (30, 32)
    """
    entry = spec(name)
    recipe = _chosen(entry) if recipe is None else entry.check_recipe(recipe)
    seed = entry.seed if seed is None else seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    splits = None if entry.split is None else entry.split(recipe, seed, source)
    return entry.fit(recipe, splits, seed=seed, device=config.resolve_device(device), progress=progress,
                     source=source, **options)
