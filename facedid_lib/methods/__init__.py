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

Both :data:`REGISTRY` (methods, kebab-case keys such as ``"k-same-pixel"``) and :data:`PROVIDERS`
(prerequisites, keyed by the keyword argument that hands them to a method, such as ``"space"``)
are :class:`~facedid_lib.core.registry.Registry` objects: a duplicate name is refused and an
unknown one raises an error that lists the known names. They live in
:mod:`facedid_lib.methods.registry`, which the method modules import; this package imports the
method modules (registering their methods) and re-exports the registry's names.
"""

from facedid_lib.methods.registry import PROVIDERS, REGISTRY, Method, Provider, get, provide, provider, register
from facedid_lib.methods import (autoencoder, classical, gan, ksame, reconstruction, san,  # noqa: F401
                                 adversarial)  # (register their methods; the registry keeps this order)

__all__ = ["Method", "Provider", "REGISTRY", "PROVIDERS", "register", "provider", "get", "provide"]
