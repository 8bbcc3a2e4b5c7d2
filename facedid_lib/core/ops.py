"""Small tensor operations shared by every role (no model, no data)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Images resized to ``size x size`` (bilinear, antialiased when shrinking; differentiable), or
    unchanged when they are."""
    if size is None or images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=images.shape[-1] > size,
                         align_corners=False).clamp(0, 1)



def batches(n: int, batch_size: int) -> list[slice]:
    """Slices that cut ``n`` items into consecutive batches of at most ``batch_size``.

    >>> batches(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


__all__ = ["resize", "batches"]
