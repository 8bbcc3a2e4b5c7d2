"""Metrics of de-identification: privacy (recognition), utility (image quality) and diversity.

All functions take batched torch tensors on any device and compute on ``device`` (None: the
device of their first tensor argument). Images are ``(N, 3, H, W)`` float tensors in [0, 1].

==========================  ====================================================================
privacy                     :func:`misclassification_rate` (:func:`deid_rate`), :func:`accuracy`,
                            :func:`outcomes` (with a defence's :data:`REJECT`),
                            :func:`targeted_success_rate`, :func:`true_label_rank`,
                            :func:`rank_probability`, :func:`rank_statistics`,
                            :func:`cumulative`, :func:`faceness`
distortion, per image       :func:`l2_norm`, :func:`mse`
similarity, per image       :func:`ssim`, :func:`ms_ssim`, :func:`cw_ssim`
generative methods          :func:`diversity`
==========================  ====================================================================

Rates (accuracy, misclassification, targeted success) are Python floats; per-image metrics are
``(N,)`` tensors, differentiable where the formula is (L2, MSE, SSIM, MS-SSIM, CW-SSIM), so they
can also serve as losses.

References
----------
.. [1] Chatzikyriakidis, Papaioannidis, Pitas, "Adversarial face de-identification", ICIP 2019.
.. [2] Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
   structural similarity", IEEE TIP 13(4), 2004.
.. [3] Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality assessment",
   Asilomar Conference on Signals, Systems and Computers, 2003.
.. [4] Sampat, Wang, Gupta, Bovik, Markey, "Complex wavelet structural similarity: a new image
   similarity index", IEEE TIP 18(11), 2009.
.. [5] Portilla, Simoncelli, "A parametric texture model based on joint statistics of complex
   wavelet coefficients", IJCV 40(1), 2000 (the complex steerable filters).
.. [6] Newton, Sweeney, Malin, "Preserving privacy by de-identifying face images", IEEE TKDE
   17(2), 2005 (k-Same; rank-based recognition statistics).
.. [7] Mygdalis, Tefas, Pitas, "K-anonymity inspired adversarial attack and multiple one-class
   classification defense", Neural Networks 124, 2020 (the rank view of a recognizer, k-A^3).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device

__all__ = [
    "accuracy", "misclassification_rate", "deid_rate", "REJECT", "outcomes", "targeted_success_rate", "l2_norm", "mse",
    "ssim", "ms_ssim", "MS_SSIM_WEIGHTS", "cw_ssim", "faceness", "diversity", "true_label_rank",
    "rank_probability", "rank_statistics", "cumulative",
]

#: The label a defended recognizer answers for a face it rejects as adversarial (the lecture's
#: class m + 1): neither the true identity nor another one. See :func:`outcomes`.
REJECT = -1

#: Wang, Simoncelli and Bovik's (2003) exponents of the five scales, finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


# ------------------------------------------------------------------------------------------------
# checks


def _tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _predictions(logits_or_pred, name: str) -> torch.Tensor:
    """(N, C) float logits -> argmax; (N,) integer class indices -> themselves."""
    x = _tensor(logits_or_pred, name)
    if x.is_floating_point():
        if x.ndim != 2:
            raise ValueError(f"{name}: float input must be (N, C) logits, got shape {tuple(x.shape)} "
                             "(predicted classes must be an integer tensor)")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
        if torch.isnan(x).any():
            raise ValueError(f"{name} contains NaN")
        return x.argmax(1)
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must be (N, C) float logits or (N,) integer classes, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name}: integer input must be (N,) class indices, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x


def _classes(labels, n: int, name: str, n_classes: int | None = None) -> torch.Tensor:
    y = _tensor(labels, name)
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {tuple(y.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries for {n} predictions")
    if n and int(y.min()) < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {int(y.min())}")
    if n_classes is not None and n and int(y.max()) >= n_classes:
        raise ValueError(f"{name} must be class indices < {n_classes} (the logits' columns), got {int(y.max())}")
    return y


def _range(data_range) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not 0 < data_range < math.inf:
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    return float(data_range)


def _images(x, name: str, data_range: float | None = None) -> torch.Tensor:
    """check_images, for images in [0, data_range] (None: [0, 1], the function has no data_range)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return check_images(x, name)
    scale = 1.0 if data_range is None else data_range
    try:
        check_images(x.detach() / scale if scale != 1.0 else x.detach(), name)
    except ValueError as exc:
        if data_range is None or "lie in" not in str(exc):
            raise
        raise ValueError(f"{exc} (in units of data_range={data_range:g}: images must lie in "
                         f"[0, {data_range:g}]; pass data_range=255 for 8-bit values)") from None
    return x


def _pair(x, y, names: tuple[str, str], device, data_range: float | None = None):
    """Check two image batches of the same shape; move them to the computing device."""
    _images(x, names[0], data_range)
    _images(y, names[1], data_range)
    if x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    device = resolve_device(device, x)
    return x.to(device), y.to(device)


# ------------------------------------------------------------------------------------------------
# privacy: recognition rates


def accuracy(logits_or_pred, labels, device=None) -> float:
    """Fraction of faces whose predicted identity is the true one.

    ``acc = (1 / N) sum_i [argmax_c z_ic = y_i]``

    Parameters
    ----------
    logits_or_pred : (N, C) float logits, or (N,) integer predicted classes.
    labels : (N,) integer true classes.
    device : where to compute; None: the device of ``logits_or_pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    pred = _predictions(logits_or_pred, "logits_or_pred")
    n_classes = logits_or_pred.shape[1] if logits_or_pred.is_floating_point() else None
    labels = _classes(labels, pred.shape[0], "labels", n_classes)
    device = resolve_device(device, pred)
    return int((pred.to(device) == labels.to(device)).sum()) / pred.shape[0]


def misclassification_rate(logits_or_pred, labels, device=None) -> float:
    """Misclassification rate ``MR = 1 - accuracy``: the lecture's de-identification (DEID) rate.

    Chatzikyriakidis et al. [1]_ report it for de-identified faces against the recognizer the
    attack targets: the fraction of faces the recognizer no longer identifies.

    Parameters
    ----------
    logits_or_pred : (N, C) float logits, or (N,) integer predicted classes.
    labels : (N,) integer true identities.
    device : where to compute; None: the device of ``logits_or_pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> misclassification_rate(torch.tensor([1, 1, 2, 0]), torch.tensor([1, 0, 2, 2]))
    0.5

    A rejected face (:data:`REJECT`, from a defended recognizer) is neither recognised nor
    de-identified: it is refused here, so that it can never count as a miss; :func:`outcomes`
    counts it.
    """
    if bool((_predictions(logits_or_pred, "logits_or_pred") == REJECT).any()):
        raise ValueError("the predictions contain rejections (REJECT): a rejected face is not misclassified; "
                         "count succeeded, failed and detected with metrics.outcomes")
    return 1.0 - accuracy(logits_or_pred, labels, device=device)


#: The lecture's name for :func:`misclassification_rate`.
deid_rate = misclassification_rate


def outcomes(pred, labels) -> dict:
    """The three outcomes of an attack on a recognizer that may reject (Mygdalis et al. 2020 [7]_).

    Per face: **succeeded** (recognised as another identity: ``pred ∉ {y, REJECT}``), **failed**
    (the true label came back: ``pred = y``) and **detected** (rejected as adversarial:
    ``pred = REJECT``). The three counts add up to the number of faces; for a recognizer without a
    defence ``detected`` is 0 and ``succeeded / n`` is the :func:`misclassification_rate`.

    Parameters
    ----------
    pred : (N,) integer predicted labels, :data:`REJECT` for a rejected face.
    labels : (N,) integer true identities.

    Returns
    -------
    dict of ints: ``succeeded``, ``failed``, ``detected``, ``n``.

    Example
    -------
    >>> import torch
    >>> outcomes(torch.tensor([3, REJECT, 0, 2]), torch.tensor([1, 1, 0, 0]))
    {'succeeded': 2, 'failed': 1, 'detected': 1, 'n': 4}
    """
    if _tensor(pred, "pred").is_floating_point():
        raise TypeError("pred must be (N,) integer labels (REJECT for a rejected face), not scores")
    pred = _predictions(pred, "pred")
    if bool((pred < REJECT).any()):
        raise ValueError(f"pred must be class indices >= 0 or REJECT ({REJECT}), got {int(pred.min())}")
    labels = _classes(labels, pred.shape[0], "labels").to(pred.device)
    detected = int((pred == REJECT).sum())
    failed = int((pred == labels).sum())
    return {"succeeded": len(pred) - detected - failed, "failed": failed, "detected": detected, "n": len(pred)}


def targeted_success_rate(pred, targets, device=None) -> float:
    """Fraction of faces classified as their attack target: ``(1 / N) sum_i [pred_i = t_i]``.

    Parameters
    ----------
    pred : (N, C) float logits, or (N,) integer predicted classes.
    targets : (N,) integer target classes of a targeted attack.
    device : where to compute; None: the device of ``pred``.

    Returns
    -------
    float in [0, 1].

    Example
    -------
    >>> import torch
    >>> targeted_success_rate(torch.tensor([3, 1, 3]), torch.tensor([3, 3, 3]))
    0.6666666666666666
    """
    predicted = _predictions(pred, "pred")
    n_classes = pred.shape[1] if pred.is_floating_point() else None
    targets = _classes(targets, predicted.shape[0], "targets", n_classes)
    device = resolve_device(device, predicted)
    return int((predicted.to(device) == targets.to(device)).sum()) / predicted.shape[0]


def _scores(scores, name: str = "scores") -> torch.Tensor:
    z = _tensor(scores, name)
    if not z.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, C) with N, C > 0, got {tuple(z.shape)}")
    if torch.isnan(z).any():
        raise ValueError(f"{name} contains NaN")
    return z


def true_label_rank(scores, labels, device=None) -> torch.Tensor:
    """The rank of each face's true label in its recognizer's output: 1 = the top.

    The lecture (Mygdalis et al. [7]_) writes ``r_x(i)``, i = 1..m, for the ``i``-th most probable
    label of a face ``x`` (its scores sorted in decreasing order; ``r_x(1) = argmax g(x)``, the
    predicted label). The rank of the true label ``y`` is the ``i`` with ``r_x(i) = y``:

    ``rank(x) = 1 + #{c : z_c > z_y}``

    **Ties**: only the labels with a *strictly* higher score are counted, so a true label tied with
    others gets the best of the tied ranks (privacy is never overstated). A true label tied at the
    top therefore has rank 1 even where ``argmax`` (which takes the first of the tied labels)
    predicts another one.

    Parameters
    ----------
    scores : (N, C) float scores, higher = more likely (logits, probabilities, similarities, minus
        distances; only their order counts).
    labels : (N,) integer true labels in ``0 .. C-1``.
    device : where to compute; None: the scores' device.

    Returns
    -------
    (N,) int64 tensor of ranks in ``1 .. C``.

    Example
    -------
    >>> import torch
    >>> true_label_rank(torch.tensor([[3.0, 2.0, 1.0], [1.0, 1.0, 0.0]]), torch.tensor([1, 1]))
    tensor([2, 1])
    """
    z = _scores(scores)
    y = _classes(labels, z.shape[0], "labels", z.shape[1])
    device = resolve_device(device, z)
    z, y = z.to(device), y.to(device)
    true = z.gather(1, y[:, None].long())
    return (z > true).sum(1).long() + 1


def rank_probability(ranks, n_classes: int, device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``P(r_x(i) = y)``, i = 1..C: the share of faces whose true label sits at rank ``i``.

    ``p_i = (1 / N) #{n : rank_n = i}`` over the ranks of :func:`true_label_rank`; the entries sum
    to 1, ``p_1`` is the recognition rate of the top label (with ties counted as in
    :func:`true_label_rank`).

    The k-anonymity requirement of Mygdalis et al. [7]_ (k-A^3) on de-identified faces ``x_p``:
    ``r_{x_p}(1) != y`` (the attack succeeds) and ``P(r_{x_p}(i) = y) <= 1/k`` for every rank
    ``i = 1..m``: the true identity must not be readable from *any* position of the ranked output
    (the final layer's activations are quasi-identifiers: after most attacks the true label sits
    at rank 2). ``max_i p_i <= 1/k`` is that requirement.

    Parameters
    ----------
    ranks : (N,) integer ranks in ``1 .. n_classes``.
    n_classes : C, the number of labels (the length of the result).
    device : where to compute; None: the ranks' device.
    dtype : the result's float dtype; None: torch's default (float32).

    Returns
    -------
    (C,) float tensor; entry ``i - 1`` is ``P(rank = i)``.

    Example
    -------
    >>> import torch
    >>> rank_probability(torch.tensor([1, 2, 2, 3]), 4)
    tensor([0.2500, 0.5000, 0.2500, 0.0000])
    """
    r = _tensor(ranks, "ranks")
    if r.is_floating_point() or r.dtype == torch.bool or r.is_complex():
        raise TypeError(f"ranks must be an integer tensor, got dtype {r.dtype}")
    if r.ndim != 1 or r.shape[0] == 0:
        raise ValueError(f"ranks must be a non-empty (N,) tensor, got shape {tuple(r.shape)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    low, high = int(r.min()), int(r.max())
    if low < 1 or high > n_classes:
        raise ValueError(f"ranks must lie in 1..{n_classes} (n_classes), got {low}..{high}")
    r = r.to(resolve_device(device, r))
    return torch.bincount(r.long() - 1, minlength=n_classes).to(dtype or torch.get_default_dtype()) / r.shape[0]


def rank_statistics(logits, labels, max_rank: int | None = None, device=None) -> torch.Tensor:
    """The rank statistic of k-anonymity evaluations: ``P(true identity at rank i)``, i = 1..C.

    Sort each face's scores in decreasing order; the rank of the true identity ``y`` is
    ``r = 1 + #{c : z_c > z_y}`` (ties count in the recognizer's favour: a true identity tied with
    others gets the best of the tied ranks, so privacy is never overstated). The statistic is the
    histogram of ``r`` over the faces, ``p_i = (1 / N) #{n : r_n = i}``. A k-anonymous set
    (Newton et al. [6]_: k-Same) drives it towards ``1/k`` on each of the first ``k`` ranks of the
    identities that were averaged; :func:`cumulative` turns it into the top-k accuracy (the
    cumulative match characteristic). It is :func:`rank_probability` of :func:`true_label_rank`,
    in the logits' dtype.

    Parameters
    ----------
    logits : (N, C) float scores (logits, probabilities or similarities; only the order counts).
    labels : (N,) integer true identities in ``0 .. C-1``.
    max_rank : keep ranks ``1 .. max_rank`` only (the tail is dropped, so the result then sums to
        the top-``max_rank`` accuracy); None: all ``C`` ranks (sums to 1).
    device : where to compute; None: the logits' device.

    Returns
    -------
    (C,) or (max_rank,) float tensor: entry ``i - 1`` is ``P(rank = i)``.

    Example
    -------
    >>> import torch
    >>> logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [0.0, 1.0, 0.5]])
    >>> rank_statistics(logits, torch.tensor([0, 1, 1, 0]))
    tensor([0.2500, 0.5000, 0.2500])
    """
    z = _scores(logits, "logits")
    c = z.shape[1]
    if max_rank is not None:
        if isinstance(max_rank, bool) or not isinstance(max_rank, int) or not 1 <= max_rank <= c:
            raise ValueError(f"max_rank must be an int in 1..{c} (the number of classes), got {max_rank!r}")
    ranks = true_label_rank(z, labels, device=device)
    stats = torch.bincount(ranks - 1, minlength=c).to(z.dtype) / ranks.shape[0]
    return stats if max_rank is None else stats[:max_rank]


def cumulative(stats: torch.Tensor, device=None) -> torch.Tensor:
    """Top-k accuracy from :func:`rank_statistics`: ``CMC(k) = sum_{i <= k} P(rank = i)``.

    Parameters
    ----------
    stats : (K,) float tensor of rank probabilities.
    device : where to compute; None: the device of ``stats``.

    Returns
    -------
    (K,) non-decreasing float tensor; entry ``k - 1`` is the top-k accuracy.

    Example
    -------
    >>> import torch
    >>> cumulative(torch.tensor([0.25, 0.5, 0.25]))
    tensor([0.2500, 0.7500, 1.0000])
    """
    s = _tensor(stats, "stats")
    if not s.is_floating_point():
        raise TypeError(f"stats must be a float tensor, got dtype {s.dtype}")
    if s.ndim != 1 or s.shape[0] == 0:
        raise ValueError(f"stats must be a non-empty 1-D tensor (from rank_statistics), got shape {tuple(s.shape)}")
    if bool((s < 0).any()) or float(s.sum()) > 1 + 1e-5:
        raise ValueError("stats must be probabilities (non-negative, summing to at most 1)")
    return torch.cumsum(s.to(resolve_device(device, s)), 0)


# ------------------------------------------------------------------------------------------------
# distortion


def l2_norm(x_adv, x, scale: float = 1.0, device=None) -> torch.Tensor:
    """L2 norm of the perturbation of each image, ``||x' - x||_2`` over all pixels and channels.

    ``L2_n = scale * sqrt(sum_{c,h,w} (x'_nchw - x_nchw)^2)``

    This is the distance Chatzikyriakidis et al. [1]_ report for P-FGVM and I-FGVM, with images
    in [0, 1] (``scale=1``, the default). Their absolute numbers depend on the image size (their
    CelebA crops) as well as on the scale; ``scale=255`` gives the norm in 8-bit grey levels, and
    ``l2_norm / sqrt(3 H W)`` is the root-mean-square change per value.

    Parameters
    ----------
    x_adv : (N, 3, H, W) de-identified (perturbed) images in [0, 1].
    x : (N, 3, H, W) original images in [0, 1].
    scale : multiply the norm by this (1: images in [0, 1]; 255: 8-bit units).
    device : where to compute; None: the device of ``x_adv``.

    Returns
    -------
    (N,) float tensor.

    Example
    -------
    >>> import torch
    >>> x = torch.zeros(1, 3, 2, 2)
    >>> l2_norm(x + 0.5, x)   # sqrt(12 * 0.25)
    tensor([1.7321])
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    x_adv, x = _pair(x_adv, x, ("x_adv", "x"), device)
    return (x_adv - x).flatten(1).norm(dim=1) * scale


def mse(x, y, device=None) -> torch.Tensor:
    """Mean squared error of each image pair, ``(1 / 3HW) sum_{c,h,w} (x - y)^2``, in [0, 1] units.

    Parameters
    ----------
    x, y : (N, 3, H, W) images in [0, 1].
    device : where to compute; None: the device of ``x``.

    Returns
    -------
    (N,) float tensor (multiply by ``255**2`` for 8-bit units; PSNR is ``-10 log10(mse)``).

    Example
    -------
    >>> import torch
    >>> mse(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5))
    tensor([0.2500])
    """
    x, y = _pair(x, y, ("x", "y"), device)
    return (x - y).pow(2).flatten(1).mean(dim=1)


# ------------------------------------------------------------------------------------------------
# SSIM and MS-SSIM


def _gaussian(size: int, sigma: float, device, dtype) -> torch.Tensor:
    r = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-r**2 / (2 * sigma**2))
    return g / g.sum()


def _check_window(win_size, sigma, k1, k2) -> None:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd int >= 3, got {win_size!r}")
    for name, value in (("sigma", sigma), ("k1", k1), ("k2", k2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def _ssim_maps(x, y, data_range: float, win_size: int, sigma: float, k1: float, k2: float):
    """Per-pixel SSIM and contrast-structure maps, (N, C, H - w + 1, W - w + 1) each (valid filtering)."""
    n, c, h, w = x.shape
    g = _gaussian(win_size, sigma, x.device, x.dtype)
    # one depthwise (grouped) convolution per direction over the 5 c maps of each pair: on a CPU
    # about 25 times faster than a one-channel convolution over an (N 5 c, 1, H, W) stack
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    maps = stack.shape[1]
    rows = g.view(1, 1, 1, -1).expand(maps, 1, 1, win_size)
    cols = g.view(1, 1, -1, 1).expand(maps, 1, win_size, 1)
    f = F.conv2d(F.conv2d(stack, rows, groups=maps), cols, groups=maps)
    mu_x, mu_y, xx, yy, xy = f.reshape(n, 5, c, f.shape[-2], f.shape[-1]).unbind(1)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * cs, cs


def ssim(x, y, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03, device=None, weights=None) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004 [2]_) of each image pair, averaged over channels.

    For every channel and every position of a Gaussian window (``win_size`` 11, ``sigma`` 1.5,
    weights normalised to 1), with the window's weighted means ``mu``, variances ``s^2`` and
    covariance ``s_xy`` (population, not sample, statistics):

    ``SSIM = (2 mu_x mu_y + C1) (2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (s_x^2 + s_y^2 + C2))``,
    ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``, ``K1 = 0.01``, ``K2 = 0.03``, ``L = data_range``.

    The index is the mean of this map over the positions where the window fits inside the image
    (no padding) and over the three channels. This is
    ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=0, data_range=1)`` (which filters the whole image,
    then crops the border where the window does not fit).

    Parameters
    ----------
    x, y : (N, 3, H, W) images in [0, data_range], ``H, W >= win_size``.
    data_range : the dynamic range ``L`` of the images (1 for the library's images).
    win_size, sigma, k1, k2 : the window and constants (defaults: the paper's).
    device : where to compute; None: the device of ``x``.
    weights : optional ``(N or 1, 1, H, W)`` weights in [0, 1]: the map is averaged with the weight
        of each window's centre pixel (a region's SSIM, e.g. outside a face's inner mask).

    Returns
    -------
    (N,) float tensor in [-1, 1] (1: identical), differentiable.

    Example
    -------
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> ssim(x, x)
    tensor([1., 1.])
    """
    data_range = _range(data_range)
    _check_window(win_size, sigma, k1, k2)
    x, y = _pair(x, y, ("x", "y"), device, data_range)
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"ssim needs images of at least {win_size} x {win_size} pixels (the window), "
                         f"got {tuple(x.shape[-2:])}")
    maps = _ssim_maps(x, y, data_range, win_size, sigma, k1, k2)[0]
    if weights is None:
        return maps.flatten(1).mean(1)
    weights = torch.as_tensor(weights).to(maps.device, maps.dtype)
    if weights.ndim != 4 or weights.shape[1] != 1 or weights.shape[-2:] != x.shape[-2:] \
            or weights.shape[0] not in (1, len(x)):
        raise ValueError(f"weights must have shape (N or 1, 1, {x.shape[-2]}, {x.shape[-1]}), got {tuple(weights.shape)}")
    if not bool(((weights >= 0) & (weights <= 1)).all()):
        raise ValueError("weights must lie in [0, 1]")
    half = win_size // 2
    w = weights[..., half:half + maps.shape[-2], half:half + maps.shape[-1]].expand(len(x), *maps.shape[1:])
    total = w.flatten(1).sum(1)
    if bool((total == 0).any()):
        raise ValueError("weights must not be zero at every window centre of an image")
    return (maps * w).flatten(1).sum(1) / total


def _ms_scales(h: int, w: int, win_size: int) -> int:
    """How many scales fit: the coarsest (after 2x2 average pooling, floor) must hold the window."""
    m = 0
    while min(h, w) >= win_size:
        m, h, w = m + 1, h // 2, w // 2
    return m


def ms_ssim(x, y, data_range: float = 1.0, scales: int | None = None,
            weights: Sequence[float] | None = None, win_size: int = 11, sigma: float = 1.5,
            k1: float = 0.01, k2: float = 0.03, device=None) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli and Bovik 2003 [3]_) of each image pair.

    Scale 1 is the image, scale ``j + 1`` is scale ``j`` low-pass filtered and halved (a 2 x 2
    average, as the authors' code does). With the contrast-structure term ``cs_j`` (SSIM without
    its luminance factor, averaged over the map) at scales ``1 .. M-1`` and the full SSIM at the
    coarsest scale ``M``:

    ``MS-SSIM = prod_{j<M} cs_j^{w_j} * SSIM_M^{w_M}``,
    ``w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` for the standard ``M = 5``.

    Each factor is clamped at 0 before the fractional power (a negative structure term would give
    NaN; the same choice as the ``pytorch-msssim`` package). The index is computed per channel
    and averaged over the three channels.

    Small images. Each scale needs the 11 x 11 window to fit, so the coarsest scale must be at
    least 11 pixels: five scales need images of at least ``11 * 2^4 = 176`` pixels (the course's
    192 px chips). For smaller images the default uses as many scales as fit (64 px: 3 scales,
    64/32/16; 112 px: 4 scales, 112/56/28/14), with the first ``M`` weights, finest first,
    renormalised to sum to 1: the relative importance of the scales that exist is kept, and the
    index stays in [0, 1] with 1 for identical images. A single scale is SSIM itself.

    Parameters
    ----------
    x, y : (N, 3, H, W) images in [0, data_range], ``H, W >= win_size``.
    data_range : dynamic range ``L``.
    scales : number of scales ``M``; None: as many as the image allows, at most ``len(weights)``.
        A ``ValueError`` names the minimum size when ``M`` scales do not fit.
    weights : per-scale exponents, finest first (default :data:`MS_SSIM_WEIGHTS`); the first
        ``M`` are used, renormalised to sum to 1.
    win_size, sigma, k1, k2 : SSIM's window and constants.
    device : where to compute; None: the device of ``x``.

    Returns
    -------
    (N,) float tensor in [0, 1], differentiable.

    Example
    -------
    >>> import torch
    >>> x = torch.rand(1, 3, 64, 64)
    >>> ms_ssim(x, x)
    tensor([1.])
    """
    data_range = _range(data_range)
    _check_window(win_size, sigma, k1, k2)
    x, y = _pair(x, y, ("x", "y"), device, data_range)
    weights = MS_SSIM_WEIGHTS if weights is None else tuple(weights)
    if not weights or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf
                          for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative numbers with a positive sum, got {weights!r}")
    fit = _ms_scales(x.shape[-2], x.shape[-1], win_size)
    if fit == 0:
        raise ValueError(f"ms_ssim needs images of at least {win_size} x {win_size} pixels, "
                         f"got {tuple(x.shape[-2:])}")
    if scales is None:
        scales = min(len(weights), fit)
    elif isinstance(scales, bool) or not isinstance(scales, int) or not 1 <= scales <= len(weights):
        raise ValueError(f"scales must be an int in 1..{len(weights)} (the number of weights), got {scales!r}")
    elif scales > fit:
        raise ValueError(f"{scales} scales need images of at least {win_size * 2 ** (scales - 1)} pixels "
                         f"(the {win_size}-pixel window at 1/{2 ** (scales - 1)} scale), got "
                         f"{tuple(x.shape[-2:])}; use scales <= {fit} or scales=None")
    w = torch.tensor(weights[:scales], device=x.device, dtype=x.dtype)
    w = w / w.sum()
    result = torch.ones(x.shape[:2], device=x.device, dtype=x.dtype)
    for j in range(scales):
        full, cs = _ssim_maps(x, y, data_range, win_size, sigma, k1, k2)
        term = (full if j == scales - 1 else cs).flatten(2).mean(2).clamp(min=0)
        result = result * term ** w[j]
        if j < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return result.mean(1)


# ------------------------------------------------------------------------------------------------
# CW-SSIM


def _steerable_filters(h: int, w: int, levels: Sequence[int], n_orientations: int, device, dtype) -> torch.Tensor:
    """(len(levels) * n_orientations, h, w) real, one-sided frequency responses (FFT layout)."""
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype) * (2 * math.pi)
    fx = torch.fft.fftfreq(w, device=device, dtype=dtype) * (2 * math.pi)
    fy, fx = torch.meshgrid(fy, fx, indexing="ij")
    radius = torch.sqrt(fx**2 + fy**2)
    angle = torch.atan2(fy, fx)
    k = n_orientations
    alpha = 2 ** (k - 1) * math.factorial(k - 1) / math.sqrt(k * math.factorial(2 * (k - 1)))
    bands = []
    for level in levels:
        octaves = torch.log2(radius.clamp(min=1e-12) / (math.pi / 2 ** (level + 1)))
        radial = torch.where(octaves.abs() < 1, torch.cos(math.pi / 2 * octaves), torch.zeros_like(octaves))
        for o in range(k):
            d = torch.remainder(angle - math.pi * o / k + math.pi, 2 * math.pi) - math.pi
            angular = torch.where(d.abs() < math.pi / 2, alpha * torch.cos(d) ** (k - 1), torch.zeros_like(d))
            bands.append(radial * angular)
    return torch.stack(bands)


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over every ``size`` x ``size`` window that fits, on (B, C, H, W) (running sums)."""
    s = F.pad(x.cumsum(-1), (1, 0))
    x = (s[..., size:] - s[..., :-size]) / size
    s = F.pad(x.cumsum(-2), (0, 0, 1, 0))
    return (s[..., size:, :] - s[..., :-size, :]) / size


def cw_ssim(x, y, levels: Sequence[int] = (1, 2, 3), n_orientations: int = 4, k: float = 1e-6,
            win_size: int = 7, device=None) -> torch.Tensor:
    """Complex wavelet SSIM (Sampat et al. 2009 [4]_) of each image pair, averaged over channels.

    For the complex wavelet coefficients ``c_x``, ``c_y`` of one subband in a local window,

    ``CW-SSIM = (2 |sum_i c_x,i conj(c_y,i)| + K) / (sum_i |c_x,i|^2 + sum_i |c_y,i|^2 + K)``.

    A small translation multiplies narrow-band complex coefficients by a nearly constant phase
    ``exp(i w d)``, which the modulus ``|sum c_x conj(c_y)|`` ignores: the index tolerates small
    shifts, rotations and scalings that SSIM penalises, and still drops with noise and blur.

    What this function computes, exactly:

    - Filters: an undecimated complex steerable filter bank built in the Fourier domain, with the
      radial and angular windows of Portilla and Simoncelli's complex steerable pyramid [5]_:
      log-radial raised-cosine octave bands ``R_l(r) = cos(pi/2 log2(r / r_l))`` for
      ``|log2(r / r_l)| < 1`` (else 0), centred on ``r_l = pi / 2^(l+1)`` rad/pixel (level 0:
      pi/2, the finest), times ``n_orientations = K`` one-sided angular windows
      ``A_o(t) = alpha_K cos(t - pi o / K)^(K-1)`` for ``|t - pi o / K| < pi/2`` (0 on the other
      half plane, which makes the responses complex analytic),
      ``alpha_K = 2^(K-1) (K-1)! / sqrt(K (2(K-1))!)``. No high-pass or low-pass residual is
      used: the mean luminance does not enter the index.
    - Levels: 1, 2, 3 by default (centres pi/4, pi/8, pi/16: periods of 8 to 32 pixels). The
      finest octave (level 0, periods of 2 to 8 pixels) is left out: a 1-pixel shift turns its
      phase by pi/4 to pi across the band, so it measures misalignment rather than structure
      (on 192 px face chips its CW-SSIM under a 1-pixel shift is about 0.89, against 0.97 to 0.99
      for levels 1 to 3). Pass ``levels=(0, 1, 2, 3)`` to include it.
    - Each channel is reflect-padded by ``min(2^(max(levels)+2), H-1, W-1)`` pixels, filtered
      with the FFT, and cropped back to ``H x W``.
    - Local sums over a ``win_size`` x ``win_size`` uniform window (Sampat et al.'s 7 x 7) are
      computed as window means, at every position where the window fits; ``K`` therefore
      applies to means (``K_sum = win_size^2 K``). ``K = 1e-6`` is about 1 % of the median
      subband energy of a face chip in [0, 1]: it only keeps flat regions from dividing 0 by 0.
    - The index is the mean over positions, over subbands (all levels and orientations, equally
      weighted) and over the three channels.

    Parameters
    ----------
    x, y : (N, 3, H, W) images in [0, 1], ``H, W >= win_size``.
    levels : octave levels of the filter bank (distinct ints >= 0; 0 is the finest).
    n_orientations : orientations per level.
    k : the stabilising constant ``K`` (> 0, per window mean of coefficient products).
    win_size : side of the uniform local window.
    device : where to compute; None: the device of ``x``.

    Returns
    -------
    (N,) float tensor in [0, 1] (1: identical), differentiable.

    Example
    -------
    >>> import torch
    >>> x = torch.rand(1, 3, 32, 32)
    >>> round(float(cw_ssim(x, x)), 6)
    1.0
    """
    for name, value in (("n_orientations", n_orientations), ("win_size", win_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    try:
        levels = tuple(levels)
    except TypeError:
        raise ValueError(f"levels must be a sequence of ints >= 0, got {levels!r}") from None
    if (not levels or len(set(levels)) != len(levels)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in levels)):
        raise ValueError(f"levels must be distinct ints >= 0, got {levels!r}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < math.inf:
        raise ValueError(f"k must be a positive number, got {k!r}")
    x, y = _pair(x, y, ("x", "y"), device)
    n, c, h, w = x.shape
    if min(h, w) < win_size:
        raise ValueError(f"cw_ssim needs images of at least {win_size} x {win_size} pixels, got {(h, w)}")
    pad = min(2 ** (max(levels) + 2), h - 1, w - 1)
    both = torch.cat([x, y]).reshape(2 * n * c, 1, h, w)
    if pad > 0:
        both = F.pad(both, (pad, pad, pad, pad), mode="reflect")
    spectrum = torch.fft.fft2(both[:, 0])
    filters = _steerable_filters(spectrum.shape[-2], spectrum.shape[-1], levels, n_orientations,
                                 x.device, x.dtype)
    total = torch.zeros(n, c, device=x.device, dtype=x.dtype)
    for band in filters:
        coeff = torch.fft.ifft2(spectrum * band)[:, pad:pad + h, pad:pad + w]
        cx, cy = coeff[: n * c], coeff[n * c:]
        cross = cx * cy.conj()
        stats = torch.stack([cross.real, cross.imag, cx.real**2 + cx.imag**2 + cy.real**2 + cy.imag**2], 1)
        stats = _box_mean(stats, win_size)
        index = (2 * torch.sqrt(stats[:, 0]**2 + stats[:, 1]**2 + 1e-30) + k) / (stats[:, 2] + k)
        total = total + index.reshape(n, c, -1).mean(2)
    return (total / len(filters)).mean(1).clamp(max=1.0)  # 2|xy| <= |x|^2 + |y|^2, up to rounding


# ------------------------------------------------------------------------------------------------
# faceness and diversity


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
        total = total + (1 - _ssim_maps(a, b, 1.0, 11, 1.5, 0.01, 0.03)[0].flatten(1).mean(1)).sum()
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

