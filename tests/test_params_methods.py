import pytest
import torch

from facedid_lib import methods
from facedid_lib.core.checks import check_images
from facedid_lib.methods.classical import gaussian_blur, gaussian_kernel1d
from facedid_lib.core.params import Param, resolve


def test_param_validation():
    p = Param("k", 3, "block size", low=1, high=9)
    assert p.validate(4) == 4
    with pytest.raises(ValueError, match="k must lie in"):
        p.validate(10)
    with pytest.raises(ValueError, match="whole number"):
        p.validate(2.5)
    c = Param("mode", "a", "mode", choices=("a", "b"))
    with pytest.raises(ValueError, match="one of"):
        c.validate("z")
    with pytest.raises(ValueError):
        Param("bad", 5, "default outside the range", low=0, high=1)
    assert resolve([p, c], {"mode": "b"}, "m") == {"k": 3, "mode": "b"}
    with pytest.raises(ValueError, match="has no parameter zz"):
        resolve([p], {"zz": 1}, "m")


def test_check_images_errors():
    check_images(torch.rand(2, 3, 8, 8))
    with pytest.raises(TypeError):
        check_images(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError):
        check_images([[0.0]])
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        check_images(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        check_images(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        check_images(torch.rand(1, 3, 8, 8) * 2)
    with pytest.raises(ValueError, match="empty"):
        check_images(torch.rand(0, 3, 8, 8))


def test_registry():
    blur = methods.get("blur")
    assert blur.family == "classical" and blur.defaults() == {"sigma": 4.0}
    with pytest.raises(ValueError, match="unknown method"):
        methods.get("nope")


def test_gaussian_blur_properties():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    k = gaussian_kernel1d(2.0)
    assert k.numel() == 13 and torch.isclose(k.sum(), torch.tensor(1.0))
    assert torch.equal(gaussian_blur(x, 0.0), x)
    y = gaussian_blur(x, 2.0)
    assert y.shape == x.shape
    # a constant image is unchanged (normalised kernel, reflected borders)
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat, atol=1e-6)
    # blurring removes high frequencies: the image gets smoother
    assert y.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()
    # separable 1-D passes equal a direct 2-D convolution away from the border
    k2 = torch.outer(k, k)
    direct = torch.nn.functional.conv2d(x.reshape(6, 1, 32, 32), k2.view(1, 1, 13, 13)).reshape(2, 3, 20, 20)
    assert torch.allclose(y[..., 6:-6, 6:-6], direct, atol=1e-5)
    with pytest.raises(ValueError, match="too large"):
        gaussian_blur(torch.rand(1, 3, 8, 8), 5.0)
