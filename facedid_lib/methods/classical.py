"""Classical (naive) face de-identification: image filters applied to the whole face chip."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..params import Param
from . import register


def gaussian_kernel1d(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian ``g[i] ∝ exp(-i² / 2σ²)`` for ``|i| <= ceil(3σ)``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


@register("blur", "classical", Param("sigma", 4.0, "standard deviation of the Gaussian, in pixels",
                                     low=0.0, high=30.0, step=0.5))
def gaussian_blur(images: torch.Tensor, sigma: float = 4.0) -> torch.Tensor:
    """Gaussian blur, ``x * G_σ``, separable, with reflected borders; ``sigma=0`` is the identity.

    Parameters
    ----------
    images : (N, 3, H, W) float tensor in [0, 1], on any device.
    sigma : standard deviation in pixels.

    Returns
    -------
    (N, 3, H, W) tensor on the input's device.

    Example
    -------
    >>> import torch
    >>> gaussian_blur(torch.rand(2, 3, 32, 32), sigma=2.0).shape
    torch.Size([2, 3, 32, 32])
    """
    if sigma == 0:
        return images.clone()
    n, c, h, w = images.shape
    kernel = gaussian_kernel1d(sigma, device=images.device, dtype=images.dtype)
    radius = kernel.numel() // 2
    if radius >= min(h, w):
        raise ValueError(f"sigma={sigma} is too large for {h}x{w} images (kernel radius {radius})")
    x = images.reshape(n * c, 1, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w).clamp(0, 1)
