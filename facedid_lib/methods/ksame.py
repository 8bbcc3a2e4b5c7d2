"""k-Same (Newton, Sweeney and Malin 2005): k-anonymous faces by averaging clusters of k faces.

Given a person-specific set (one face per person), k-Same takes a face not yet used, finds the k
unused faces closest to it (itself included), and replaces all k of them by their average. Every
de-identified face is then shared by at least k originals, so a recognizer that maps each
de-identified face to one identity is right for at most one face in k: **its recognition rate is
at most 1/k**, whatever the recognizer.

k-Same-Pixel measures distance and averages in pixel space; k-Same-Eigen does both on eigenface
coefficients (:class:`~facedid_lib.methods.reconstruction.FaceSpace`) and rebuilds the face from
the average coefficients.

The paper's algorithm leaves fewer than k faces at the end; here each of them joins the cluster
whose first face is closest and that cluster's average is taken again, so no cluster is smaller
than k (the guarantee holds for every face).
"""

from __future__ import annotations

import torch

from facedid_lib.core.params import Param
from facedid_lib.methods.registry import register
from facedid_lib.methods.reconstruction import FaceSpace

_K = Param("k", 3, "faces averaged into each de-identified face (the privacy level)", low=2, high=100)


def k_same_clusters(features: torch.Tensor, k: int) -> torch.Tensor:
    """The k-Same clusters of ``features`` (N, D): an (N,) int64 cluster index per face.

    Faces are taken in index order; each cluster holds the ``k`` unused faces closest (Euclidean)
    to its first face; the last ``N mod k`` faces join the cluster of the nearest first face. Every
    cluster has between ``k`` and ``2k - 1`` faces.
    """
    n = len(features)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if n < k:
        raise ValueError(f"k-Same needs at least k = {k} faces, got {n}")
    distances = torch.cdist(features.float(), features.float())
    cluster = torch.full((n,), -1, dtype=torch.int64, device=features.device)
    seeds = []
    for i in range(n):
        free = cluster < 0
        if not free[i] or int(free.sum()) < k:
            continue
        nearest = torch.where(free, distances[i], torch.inf).topk(k, largest=False).indices
        cluster[nearest] = len(seeds)
        seeds.append(i)
    left = (cluster < 0).nonzero().flatten()
    if len(left):
        cluster[left] = distances[left][:, seeds].argmin(1)
    return cluster


def cluster_means(values: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
    """Each row of ``values`` replaced by the mean of its cluster's rows."""
    n_clusters = int(cluster.max()) + 1
    flat = values.flatten(1)
    sums = torch.zeros(n_clusters, flat.shape[1], dtype=flat.dtype, device=flat.device).index_add_(0, cluster, flat)
    counts = torch.bincount(cluster, minlength=n_clusters).to(flat.dtype)
    return (sums / counts[:, None])[cluster].reshape(values.shape)


@register("k-same-pixel", "k-same", _K, whole_set=True)
def k_same_pixel(images: torch.Tensor, k: int = 3) -> torch.Tensor:
    """k-Same-Pixel: every face replaced by the pixel average of its cluster of >= k closest faces.

    ``images`` must be a person-specific set (one face per person) for the 1/k guarantee.
    """
    return cluster_means(images, k_same_clusters(images.flatten(1), k))


@register("k-same-eigen", "k-same", _K,
          Param("n_components", 50, "eigenfaces describing each face", low=1, high=2000),
          needs=("space",), whole_set=True)
def k_same_eigen(images: torch.Tensor, space: FaceSpace, k: int = 3, n_components: int = 50) -> torch.Tensor:
    """k-Same-Eigen: clusters and averages on eigenface coefficients, faces rebuilt from the averages."""
    c = space.encode(images, n_components)
    return space.decode(cluster_means(c, k_same_clusters(c, k))).to(images.device, images.dtype)
