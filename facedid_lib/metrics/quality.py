"""Utility as image quality, per image: the L2 norm of the change and the MSE (distortion), SSIM
(Wang et al. 2004) and CW-SSIM (Sampat et al. 2009, with Portilla and Simoncelli's complex
steerable filters); differentiable, so they also serve as losses."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from facedid_lib.metrics.inputs import check_pair, check_range


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
    x_adv, x = check_pair(x_adv, x, ("x_adv", "x"), device)
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
    x, y = check_pair(x, y, ("x", "y"), device)
    return (x - y).pow(2).flatten(1).mean(dim=1)


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


def _window_means(stack: torch.Tensor, win_size: int, sigma: float) -> torch.Tensor:
    """Each channel of ``stack`` filtered by the normalised Gaussian window (valid positions only).

    One depthwise (grouped) convolution per direction: on a CPU about 25 times faster than a
    one-channel convolution over an ``(N * maps, 1, H, W)`` stack, and three times faster again,
    forward and backward, in the channels-last layout (the same values to the bit: each output is
    the same 11-term sum). Channels do not mix, so a channel's result does not depend on what else
    is stacked with it.
    """
    g = _gaussian(win_size, sigma, stack.device, stack.dtype)
    stack = stack.contiguous(memory_format=torch.channels_last)
    maps = stack.shape[1]
    rows = g.view(1, 1, 1, -1).expand(maps, 1, 1, win_size)
    cols = g.view(1, 1, -1, 1).expand(maps, 1, win_size, 1)
    return F.conv2d(F.conv2d(stack, rows, groups=maps), cols, groups=maps)


def _ssim_from_moments(mu_x, mu_y, xx, yy, xy, data_range: float, k1: float, k2: float):
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * cs, cs


def ssim_maps(x, y, data_range: float, win_size: int, sigma: float, k1: float, k2: float):
    """Per-pixel SSIM and contrast-structure maps, (N, C, H - w + 1, W - w + 1) each (valid filtering)."""
    n, c = x.shape[:2]
    f = _window_means(torch.cat([x, y, x * x, y * y, x * y], dim=1), win_size, sigma)
    mu_x, mu_y, xx, yy, xy = f.reshape(n, 5, c, f.shape[-2], f.shape[-1]).unbind(1)
    return _ssim_from_moments(mu_x, mu_y, xx, yy, xy, data_range, k1, k2)


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
    data_range = check_range(data_range)
    _check_window(win_size, sigma, k1, k2)
    x, y = check_pair(x, y, ("x", "y"), device, data_range)
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"ssim needs images of at least {win_size} x {win_size} pixels (the window), "
                         f"got {tuple(x.shape[-2:])}")
    maps = ssim_maps(x, y, data_range, win_size, sigma, k1, k2)[0]
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


class SSIMReference:
    """:func:`ssim` of many batches against one fixed reference batch: ``ssim_to(images) == ssim(images, reference)``.

    An attack that keeps its perturbed faces close to the clean ones in SSIM (k-A^3's distance
    ``||p||_2 + w (1 - SSIM(x + p, x))``) asks for the SSIM against the same clean faces at every
    step. The reference's windowed means ``mu_y`` and second moments ``E[y^2]`` are filtered once
    here; each call filters only the three maps that involve the new images (``x``, ``x^2``,
    ``x y``) instead of five. The values are those of :func:`ssim` to the bit (each channel is
    filtered on its own and the formula is the same code), and the result is differentiable in
    ``images``.

    The reference is checked as :func:`ssim` checks its inputs; the images of a call only for
    their shape (this serves inner loops, whose images are in range by construction).

    Example
    -------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> clean, noisy = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    >>> ssim_to = SSIMReference(clean)
    >>> torch.equal(ssim_to(noisy), ssim(noisy, clean))
    True
    """

    def __init__(self, reference, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5,
                 k1: float = 0.01, k2: float = 0.03, device=None):
        self.data_range = check_range(data_range)
        _check_window(win_size, sigma, k1, k2)
        reference, _ = check_pair(reference, reference, ("reference", "reference"), device, self.data_range)
        if min(reference.shape[-2:]) < win_size:
            raise ValueError(f"ssim needs images of at least {win_size} x {win_size} pixels (the window), "
                             f"got {tuple(reference.shape[-2:])}")
        self.reference = reference.detach()
        self.win_size, self.sigma, self.k1, self.k2 = win_size, sigma, k1, k2
        y = self.reference
        self._mu_y, self._yy = _window_means(torch.cat([y, y * y], dim=1), win_size, sigma).chunk(2, dim=1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N,)`` SSIM of each image against the reference image of the same row."""
        y = self.reference
        if not isinstance(images, torch.Tensor) or images.shape != y.shape:
            raise ValueError(f"images must be a tensor of the reference's shape {tuple(y.shape)}, got "
                             f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
        x = images.to(y.device)
        mu_x, xx, xy = _window_means(torch.cat([x, x * x, x * y], dim=1), self.win_size, self.sigma).chunk(3, dim=1)
        maps = _ssim_from_moments(mu_x, self._mu_y, xx, self._yy, xy, self.data_range, self.k1, self.k2)[0]
        return maps.flatten(1).mean(1)


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
    """Complex wavelet SSIM (Sampat et al. 2009 [3]_) of each image pair, averaged over channels.

    For the complex wavelet coefficients ``c_x``, ``c_y`` of one subband in a local window,

    ``CW-SSIM = (2 |sum_i c_x,i conj(c_y,i)| + K) / (sum_i |c_x,i|^2 + sum_i |c_y,i|^2 + K)``.

    A small translation multiplies narrow-band complex coefficients by a nearly constant phase
    ``exp(i w d)``, which the modulus ``|sum c_x conj(c_y)|`` ignores: the index tolerates small
    shifts, rotations and scalings that SSIM penalises, and still drops with noise and blur.

    What this function computes, exactly:

    - Filters: an undecimated complex steerable filter bank built in the Fourier domain, with the
      radial and angular windows of Portilla and Simoncelli's complex steerable pyramid [4]_:
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
    x, y = check_pair(x, y, ("x", "y"), device)
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


__all__ = ["l2_norm", "mse", "ssim", "SSIMReference", "ssim_maps", "cw_ssim"]
