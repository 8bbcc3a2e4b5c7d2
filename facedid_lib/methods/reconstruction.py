"""Reconstruction-based face de-identification: keep only part of a face's linear description.

- SVD: each colour channel of a face is a matrix ``X = U S Vᵀ``; keeping the ``rank`` largest
  singular values gives the best rank-``rank`` approximation (Eckart-Young), a face without fine
  detail.
- Eigenfaces (Turk and Pentland 1991): principal components of training faces. A face ``x`` has
  coefficients ``c = Wᵀ (x - μ)``; reconstructing it from the first ``m`` of them,
  ``x' = μ + W_m c_m``, keeps what faces share and drops what is specific to this one.
- Hypersphere projection: the whitened coefficients ``z_i = c_i / σ_i`` (``σ_i²``: the variance of
  the training faces along component ``i``) are moved onto the sphere ``‖z‖ = r √m`` around the
  mean face, ``z' = r √m z / ‖z‖``. A training face lies at ``‖z‖ ≈ √m`` on average, so ``r = 1``
  makes every face equally typical, ``r < 1`` pulls all faces towards the mean face, and the
  direction of ``z`` (what a nearest-neighbour recognizer with cosine distance uses) is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from facedid_lib.core.checks import check_images
from facedid_lib.core.params import Param
from facedid_lib.methods.registry import provider, register


@register("svd", "reconstruction", Param("rank", 8, "singular values kept per colour channel", low=1, high=192))
def svd_deidentify(images: torch.Tensor, rank: int = 8) -> torch.Tensor:
    """SVD de-identification: each colour channel rebuilt from its ``rank`` largest singular values.

    ``X ≈ Σ_{i < rank} s_i u_i v_iᵀ`` for every ``H x W`` channel (batched ``torch.linalg.svd``).

    Example
    -------
    >>> import torch
    >>> svd_deidentify(torch.rand(2, 3, 16, 16), rank=4).shape
    torch.Size([2, 3, 16, 16])
    """
    h, w = images.shape[-2:]
    if rank > min(h, w):
        raise ValueError(f"rank must be at most min(H, W) = {min(h, w)}, got {rank}")
    u, s, vh = torch.linalg.svd(images, full_matrices=False)
    return ((u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :]).clamp(0, 1)


@dataclass
class FaceSpace:
    """Eigenfaces of a set of training faces: ``mean`` (D,), ``components`` (K, D), ``scales`` (K,).

    ``components`` are orthonormal rows sorted by decreasing variance; ``scales`` are the standard
    deviations of the training faces along them. ``shape`` is the ``(3, H, W)`` of the faces.
    Build one with :meth:`fit`.
    """

    mean: torch.Tensor
    components: torch.Tensor
    scales: torch.Tensor
    shape: tuple[int, int, int]

    @classmethod
    def fit(cls, images: torch.Tensor, n_components: int | None = None, device=None) -> "FaceSpace":
        """PCA of ``images`` (N, 3, H, W) through the SVD of the centred data matrix.

        Keeps ``n_components`` components (default: all ``N - 1`` with non-zero variance). When
        they are few (under N / 4), a randomized SVD (Halko et al. 2011, ``torch.svd_lowrank``
        with 10 extra columns and 4 power iterations) finds them in a fraction of the time.
        """
        check_images(images)
        n = len(images)
        if n < 2:
            raise ValueError(f"a face space needs at least 2 training faces, got {n}")
        k = n - 1 if n_components is None else n_components
        if not isinstance(k, int) or not 1 <= k <= n - 1:
            raise ValueError(f"n_components must be an int in [1, {n - 1}] for {n} faces, got {k!r}")
        x = images.to(device or images.device).flatten(1).float()
        mean = x.mean(0)
        if k < n / 4:
            _, s, v = torch.svd_lowrank(x - mean, q=k + 10, niter=4)
            vh = v.T
        else:
            _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
        return cls(mean, vh[:k].contiguous(), s[:k] / math.sqrt(n - 1), tuple(images.shape[1:]))

    @classmethod
    def cached(cls, images: torch.Tensor, n_components: int | None = None, device=None) -> "FaceSpace":
        """:meth:`fit`, computed once per cache folder (:mod:`facedid_lib.core.cache`) and loaded after:
        the entry is keyed by the images' exact pixels and ``n_components``, so a loaded space has the
        bits a fit on the same device computes. Four chapters fit the same 630 training faces (32 s
        each on one CPU core). The space is fitted and returned on ``device`` (default: the images').
        """
        import hashlib

        from facedid_lib.core import cache

        check_images(images)
        pixels = images.detach().cpu().contiguous()
        digest = hashlib.sha256(pixels.numpy().tobytes()).hexdigest()
        path = cache.path_for("face-space", digest, tuple(pixels.shape), n_components)
        device = device or images.device
        with cache.lock(path):
            entry = cache.load(path)
            if entry is None:
                space = cls.fit(images.to(device), n_components).to("cpu")
                entry = {"mean": space.mean, "components": space.components, "scales": space.scales,
                         "shape": list(space.shape)}
                cache.save(entry, path)
        return cls(entry["mean"], entry["components"], entry["scales"], tuple(entry["shape"])).to(device)

    def __len__(self) -> int:
        return len(self.components)

    def _check(self, images: torch.Tensor, m: int) -> None:
        check_images(images)
        if tuple(images.shape[1:]) != self.shape:
            raise ValueError(f"this face space was fitted on {self.shape} faces, got {tuple(images.shape[1:])} "
                             "(resize the faces, or fit a space at their size)")
        if not 1 <= m <= len(self):
            raise ValueError(f"n_components must lie in [1, {len(self)}] for this face space, got {m}")

    def encode(self, images: torch.Tensor, m: int | None = None) -> torch.Tensor:
        """The first ``m`` coefficients ``c = W_mᵀ (x - μ)`` of each face, (N, m)."""
        m = len(self) if m is None else m
        self._check(images, m)
        x = images.flatten(1).to(self.mean)
        return (x - self.mean) @ self.components[:m].T

    def decode(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Faces ``μ + W_m c`` from (N, m) coefficients, clipped to [0, 1], on the space's device."""
        m = coefficients.shape[1]
        x = self.mean + coefficients.to(self.mean) @ self.components[:m]
        return x.reshape(-1, *self.shape).clamp(0, 1)

    def to(self, device) -> "FaceSpace":
        return FaceSpace(self.mean.to(device), self.components.to(device), self.scales.to(device), self.shape)


@provider("space", "a FaceSpace fitted on training faces, reconstruction.FaceSpace.fit(train.images)")
def _fit_space(faces, size: int, device, progress: bool, params: dict) -> FaceSpace:
    """Eigenfaces of every face of the folder ``faces`` at the chip ``size`` (as many as the method uses)."""
    from facedid_lib.data import facesets as data

    train = data.load_faces(faces, size=size, progress=progress)
    return FaceSpace.cached(train.images, params.get("n_components"), device=device)


def _as_input(new: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return new.to(images.device, images.dtype)


@register("eigenface", "reconstruction",
          Param("n_components", 20, "eigenfaces kept", low=1, high=2000), needs=("space",))
def eigenface(images: torch.Tensor, space: FaceSpace, n_components: int = 20) -> torch.Tensor:
    """Eigenface reconstruction from the first ``n_components`` eigenfaces: ``μ + W_m W_mᵀ (x - μ)``."""
    return _as_input(space.decode(space.encode(images, n_components)), images)


@register("hypersphere", "reconstruction",
          Param("radius", 0.5, "radius of the sphere, in units of √m (1: a typical training face)",
                low=0.0, high=2.0, step=0.05),
          Param("n_components", 50, "eigenfaces used", low=1, high=2000), needs=("space",))
def hypersphere(images: torch.Tensor, space: FaceSpace, radius: float = 0.5, n_components: int = 50) -> torch.Tensor:
    """Hypersphere projection: whitened eigenface coefficients moved to ``‖z‖ = r √m``.

    ``z = c / σ``, ``z' = r √m z / ‖z‖``, ``x' = μ + W_m (σ z')``. ``radius=0`` gives the mean face
    for everybody.
    """
    c = space.encode(images, n_components)
    z = c / space.scales[:n_components]
    z = radius * math.sqrt(n_components) * z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return _as_input(space.decode(z * space.scales[:n_components]), images)
