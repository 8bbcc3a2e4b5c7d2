"""Affine warps between photos and chips: checks, inverses, coordinate grids, bilinear sampling.

A chip transform ``A`` (2 x 3) maps a photo point ``(x, y, 1)`` to chip coordinates ``(u, v)``;
integer coordinates are pixel centres (dlib's and OpenCV's convention).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from facedid_lib.io.images import to_tensor

__all__ = ["check_transforms", "invert", "apply_transforms", "sample", "inside_photo", "crop"]


def check_transforms(transforms, name: str = "transforms") -> np.ndarray:
    """``transforms`` as a finite, invertible (N, 2, 3) float64 array (one (2, 3) transform is N = 1)."""
    array = np.asarray(transforms, dtype=np.float64)
    if array.shape == (2, 3):
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (2, 3) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite (N, 2, 3) array of chip transforms, "
                         f"got shape {array.shape}")
    if np.any(np.abs(np.linalg.det(array[:, :, :2])) < 1e-12):
        raise ValueError(f"{name} contains a singular transform")
    return array


def invert(transforms: np.ndarray) -> np.ndarray:
    """Inverse of each (2, 3) affine map: chip to photo coordinates."""
    linear = np.linalg.inv(transforms[:, :, :2])
    return np.concatenate([linear, -linear @ transforms[:, :, 2:]], axis=2)


def apply_transforms(transforms: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Map coordinate grids (broadcast against N) through (N, 2, 3) transforms."""
    t = transforms[:, :, :, None, None]
    return t[:, 0, 0] * x + t[:, 0, 1] * y + t[:, 0, 2], t[:, 1, 0] * x + t[:, 1, 1] * y + t[:, 1, 2]


def sample(image: torch.Tensor, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``image`` (C, H, W) at pixel coordinates ``x, y`` (N, h, w): (N, C, h, w)."""
    channels, height, width = image.shape
    n, h, w = x.shape
    grid = np.stack([x * (2 / (width - 1)) - 1, y * (2 / (height - 1)) - 1], axis=-1)
    grid = torch.from_numpy(grid.reshape(1, n * h, w, 2)).to(image.device, image.dtype)
    out = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.view(channels, n, h, w).transpose(0, 1)


def inside_photo(x: np.ndarray, y: np.ndarray, height: int, width: int) -> np.ndarray:
    """dlib's rule: a sample exists where all four bilinear neighbours lie in the photo."""
    return (x >= 0) & (y >= 0) & (x < width - 1) & (y < height - 1)


def crop(photo, x0: int, x1: int, y0: int, y1: int, device) -> torch.Tensor:
    """The photo's window ``[y0:y1, x0:x1]`` as a (3, h, w) float tensor (the rest is never copied);
    differentiable with respect to a float tensor photo (an attack in the photo reaches its chips)."""
    if isinstance(photo, np.ndarray):
        return to_tensor(photo[y0:y1, x0:x1], device)
    part = photo[:, y0:y1, x0:x1]
    return part.to(device, part.dtype if part.dtype in (torch.float32, torch.float64) else torch.float32)
