"""Face identification from embeddings: a gallery of known faces turned into a classifier.

An embedding model (dlib's descriptor, :func:`facedid_lib.recognize.dlib_resnet.embed`) maps a face
to a vector; two faces are the same person when their vectors are close (dlib: closer than 0.6).
A :class:`Gallery` embeds clean photos of known people once and scores a new face against every
identity by its distance to that identity's **nearest** gallery photo. The score is returned as
logits (the negative distance), so an attack written for a classifier (torchattacks, ART,
foolbox, :mod:`facedid_lib.methods`) attacks the recognizer unchanged.

Example
-------
>>> from facedid_lib import data
>>> from facedid_lib.recognize.dlib_resnet import embed
>>> faces = data.load_faces(size=192, n_identities=3, per_identity=4, progress=False)
>>> train, test = data.split(faces, (0.5, 0.5))                       # 2 + 2 photos of each
>>> gallery = Gallery(embed, train.images, train.labels)
>>> (gallery.predict(test.images) == test.labels).float().mean()
tensor(1.)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device

__all__ = ["Gallery", "check_labels"]


def check_labels(labels, n: int, name: str = "labels") -> torch.Tensor:
    """``labels`` as ``(n,)`` int64 class labels ``>= 0``; a ``ValueError`` naming ``name`` otherwise
    (floats, bools, another shape, a negative label)."""
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.shape != (n,):
        raise ValueError(f"{name} must be {n} integer class labels (shape ({n},)), got "
                         f"dtype {labels.dtype} and shape {tuple(labels.shape)}")
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got {int(labels.min())}")
    return labels.long()


class Gallery(nn.Module):
    """A closed-set recognizer: nearest gallery photo per identity, as ``(N, C)`` logits.

    Parameters
    ----------
    embedder : callable
        ``embedder(images) -> (N, D)`` embeddings, differentiable for attacks, e.g.
        :func:`facedid_lib.recognize.dlib_resnet.embed` or ``ModelB.embed``. An ``nn.Module`` is
        registered as a submodule (``gallery.to(device)`` moves it).
    images : (M, 3, S, S) float tensor in [0, 1]
        Clean gallery photos (e.g. the training split), embedded once, without gradients.
    labels : (M,) int tensor
        Their classes ``0 .. C-1``; every class needs at least one photo.
    device : torch device, optional
        Where the gallery is embedded and kept (None: the images' device).
    batch_size : int
        Photos embedded at a time (here and in :meth:`embed`).
    n_classes : int, optional
        C; default ``labels.max() + 1`` (pass a FaceSet's ``n_classes`` to keep its label space).
    progress : bool
        Show a progress bar while the gallery is embedded.
    embeddings : (M, D) tensor, optional
        The photos' embeddings, computed before (e.g. cached): the photos are not embedded again.

    Notes
    -----
    ``logits(x)[i, c] = -min_j ||e(x_i) - e(g_j)||`` over the gallery photos ``g_j`` of class
    ``c``: the predicted class is the nearest neighbour's, and an embedding within 0.6 of some
    photo of ``c`` has a logit above -0.6. The logits are differentiable w.r.t. ``x`` (the
    gradient reaches the nearest photo of each class).
    """

    def __init__(self, embedder: Callable, images: torch.Tensor, labels, device=None,
                 batch_size: int = 64, n_classes: int | None = None, progress: bool = True,
                 embeddings: torch.Tensor | None = None):
        super().__init__()
        if not callable(embedder):
            raise TypeError(f"embedder must be callable (images -> (N, D)), got {type(embedder).__name__}")
        check_images(images.detach(), "images")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        labels = check_labels(labels, len(images))
        n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
        if not (isinstance(n_classes, int) and n_classes > int(labels.max())):
            raise ValueError(f"n_classes must be an int above the largest label {int(labels.max())}, "
                             f"got {n_classes!r}")
        counts = torch.bincount(labels.cpu(), minlength=n_classes)
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(f"labels: classes {missing[:10]}{' ...' if len(missing) > 10 else ''} "
                             "have no gallery photo; every class needs at least one")
        self.embedder = embedder
        self.batch_size = batch_size
        self.n_classes = n_classes
        device = resolve_device(device, images)
        if embeddings is not None:
            gallery = embeddings.to(device)
        else:
            with torch.no_grad():
                gallery = self.embed(images.to(device), progress=progress, desc="embedding the gallery")
        if gallery.ndim != 2 or len(gallery) != len(images):
            raise ValueError(f"embedder must return (N, D) embeddings, got {tuple(gallery.shape)}")
        self.register_buffer("embeddings", gallery.detach())
        self.register_buffer("labels", labels.to(gallery.device))
        # column index of each class's photos, padded with an index to a +inf column
        per_class = int(counts.max())
        index = torch.full((n_classes, per_class), len(images), dtype=torch.long)
        order = torch.argsort(labels.cpu(), stable=True)
        starts = torch.cumsum(counts, 0) - counts
        for c in range(n_classes):
            index[c, :counts[c]] = order[starts[c]:starts[c] + counts[c]]
        self.register_buffer("class_index", index.to(gallery.device))

    def embed(self, images: torch.Tensor, progress: bool = False, desc: str = "embedding") -> torch.Tensor:
        """``embedder(images)`` in batches of ``batch_size``, concatenated (keeps gradients)."""
        check_images(images.detach(), "images")
        chunks = range(0, len(images), self.batch_size)
        if progress and len(chunks) > 1:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc=desc, unit="batch")
        return torch.cat([self.embedder(images[i:i + self.batch_size]) for i in chunks])

    def distances(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` distance of each image's embedding to each class's nearest gallery photo."""
        return self.distances_from(self.embed(images))

    def distances_from(self, emb: torch.Tensor) -> torch.Tensor:
        """:meth:`distances` from the images' ``(N, D)`` embeddings (:meth:`embed`), computed before."""
        gallery = self.embeddings.to(emb.device, emb.dtype)
        dist = torch.cdist(emb, gallery, compute_mode="donot_use_mm_for_euclid_dist")
        dist = torch.cat([dist, dist.new_full((len(dist), 1), float("inf"))], dim=1)
        return dist[:, self.class_index.to(emb.device)].amin(dim=2)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` closed-set logits: minus :meth:`distances` (differentiable w.r.t. images)."""
        return -self.distances(images)

    def logits_from(self, emb: torch.Tensor) -> torch.Tensor:
        """:meth:`logits` from the images' ``(N, D)`` embeddings (:meth:`embed`), computed before:
        ``logits(x) == logits_from(embed(x))`` exactly."""
        return -self.distances_from(emb)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``(N,)`` int64 class of each image's nearest gallery photo."""
        return self.logits(images).argmax(dim=1)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(N,)`` embedding distance of the pairs ``(a[i], b[i])``."""
        check_images(a.detach(), "a")
        check_images(b.detach(), "b")
        if len(a) != len(b):
            raise ValueError(f"a and b must hold the same number of images, got {len(a)} and {len(b)}")
        ea, eb = self.embed(a), self.embed(b)
        return (ea - eb.to(ea.device)).norm(dim=1)

    @torch.no_grad()
    def verify(self, a: torch.Tensor, b: torch.Tensor, threshold: float = 0.6) -> torch.Tensor:
        """``(N,)`` bool: is ``a[i]`` the same person as ``b[i]`` (embedding distance below
        ``threshold``; 0.6 is dlib's rule for its descriptor)."""
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold!r}")
        return self.distance(a, b) < threshold

    def extra_repr(self) -> str:
        return f"photos={len(self.embeddings)}, classes={self.n_classes}, dim={self.embeddings.shape[1]}"
