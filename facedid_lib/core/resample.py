"""Resampling shared by the chip geometry of faces, the dlib descriptor and the attribute models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pyramid_down(images: torch.Tensor) -> torch.Tensor:
    """Halve ``(N, C, H, W)`` images with the separable binomial filter ``[1, 4, 6, 4, 1] / 16``.

    Output pixel ``i`` is centred on input pixel ``2 i`` (dlib's image pyramid does the same);
    borders are reflected (replicated for images of at most 2 pixels). Differentiable.
    """
    n, c, h, w = images.shape
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=images.device, dtype=images.dtype) / 16
    y = images.reshape(n * c, 1, h, w)
    mode = "reflect" if min(h, w) > 2 else "replicate"
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode=mode), taps.view(1, 1, 1, 5), stride=(1, 2))
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode=mode), taps.view(1, 1, 5, 1), stride=(2, 1))
    return y.reshape(n, c, y.shape[-2], y.shape[-1])
