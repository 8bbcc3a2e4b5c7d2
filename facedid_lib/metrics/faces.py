"""Is a de-identified face still a face, and how varied are a generative method's outputs:
:func:`faceness` (a detector's confidence per chip) and :func:`diversity`."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from facedid_lib.core.checks import check_images
from facedid_lib.metrics.quality import ssim_maps
from facedid_lib.core.config import resolve_device


def faceness(chips, detector: Callable, device=None) -> torch.Tensor:
    """A face detector's confidence on each chip: is the de-identified face still a face?

    A thin wrapper: it checks the chips, calls ``detector(chips)`` and checks that one finite
    score per chip comes back. A de-identification method should keep it high (the output still
    looks like a face to a detector) while the recognition rate falls.

    Parameters
    ----------
    chips : (N, 3, H, W) face chips in [0, 1].
    detector : callable ``(N, 3, H, W) tensor -> (N,)`` scores (a torch tensor, a numpy array or
        a sequence of numbers), e.g. a differentiable detector's face logit or a classical
        detector's confidence per chip.
    device : where the chips go before the call and the scores after it; None: the chips' device.

    Returns
    -------
    (N,) float tensor of scores, in the detector's own units.

    Example
    -------
    >>> import torch
    >>> faceness(torch.rand(2, 3, 8, 8), lambda c: c.mean((1, 2, 3)) * 0 + 1)
    tensor([1., 1.])
    """
    check_images(chips.detach() if isinstance(chips, torch.Tensor) else chips, "chips")
    if not callable(detector):
        raise TypeError(f"detector must be a callable returning (N,) scores, got {type(detector).__name__}")
    device = resolve_device(device, chips)
    chips = chips.to(device)
    scores = detector(chips)
    if not isinstance(scores, torch.Tensor):
        try:
            scores = torch.as_tensor(scores, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"detector must return (N,) numeric scores, got {type(scores).__name__}") from exc
    if scores.is_complex() or scores.dtype == torch.bool:
        raise TypeError(f"detector must return real (N,) scores, got dtype {scores.dtype}")
    if scores.shape != (chips.shape[0],):
        raise ValueError(f"detector must return one score per chip, shape ({chips.shape[0]},), "
                         f"got {tuple(scores.shape)}")
    scores = scores.to(device)
    if not scores.is_floating_point():
        scores = scores.float()
    if not torch.isfinite(scores).all():
        raise ValueError("detector returned non-finite scores")
    return scores


def diversity(images, metric: str = "l2", device=None) -> torch.Tensor:
    """Mean pairwise distance within a batch of outputs of a generative method.

    ``D = (2 / (N (N - 1))) sum_{i<j} d(x_i, x_j)``, with ``d`` the L2 distance over all pixels
    and channels in [0, 1] units (``metric="l2"``, as :func:`l2_norm`) or ``1 - SSIM``
    (``metric="ssim"``, :func:`ssim`). Give it several outputs for the same input face (different
    seeds or codes): 0 means the method always produces the same face, larger values more varied
    faces. Use the same metric and image size to compare methods.

    Parameters
    ----------
    images : (N, 3, H, W) images in [0, 1], ``N >= 2``.
    metric : ``"l2"`` or ``"ssim"``.
    device : where to compute; None: the images' device.

    Returns
    -------
    0-dimensional float tensor, differentiable.

    Example
    -------
    >>> import torch
    >>> diversity(torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)]))   # sqrt(12)
    tensor(3.4641)
    """
    check_images(images.detach() if isinstance(images, torch.Tensor) else images, "images")
    if images.shape[0] < 2:
        raise ValueError(f"diversity needs at least 2 images, got {images.shape[0]}")
    if metric not in ("l2", "ssim"):
        raise ValueError(f"metric must be 'l2' or 'ssim', got {metric!r}")
    images = images.to(resolve_device(device, images))
    n = images.shape[0]
    if metric == "l2":
        return F.pdist(images.flatten(1)).mean()
    if min(images.shape[-2:]) < 11:
        raise ValueError(f"metric='ssim' needs images of at least 11 x 11 pixels, got {tuple(images.shape[-2:])}")
    i, j = torch.triu_indices(n, n, offset=1, device=images.device)
    total = images.new_zeros(())
    for start in range(0, i.numel(), 32):
        a, b = images[i[start:start + 32]], images[j[start:start + 32]]
        total = total + (1 - ssim_maps(a, b, 1.0, 11, 1.5, 0.01, 0.03)[0].flatten(1).mean(1)).sum()
    return total / i.numel()


def relative_diversity(new, clean, metric: str = "ssim", device=None) -> torch.Tensor:
    """How much of a face set's diversity a method's outputs keep: ``diversity(new) / diversity(clean)``.

    Our definition of the DIV column of Nousi et al. (2019), whose exact formula the lecture does
    not give: 1 means the outputs differ from each other as much as the clean faces do, 0 that
    every face became the same face. :func:`diversity` with ``metric`` (``1 - SSIM`` by default)
    over all pairs of the set.

    Example
    -------
    >>> import torch
    >>> faces = torch.rand(4, 3, 16, 16)
    >>> float(relative_diversity(faces, faces))
    1.0
    """
    clean_div = diversity(clean, metric, device)
    if float(clean_div) == 0:
        raise ValueError("the clean faces are all the same: their diversity is 0")
    return diversity(new, metric, device) / clean_div


__all__ = ["faceness", "diversity", "relative_diversity"]
