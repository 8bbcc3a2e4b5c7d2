"""Tests of facedid_lib.metrics: hand-computed cases, scikit-image agreement, properties, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from facedid_lib import metrics as M


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def faces(data_folder) -> torch.Tensor:
    """Four real 192 x 192 face chips of the offline folder, (4, 3, 192, 192) in [0, 1]."""
    paths = sorted((data_folder / "img_align").glob("*.jpg"))[:4]
    assert len(paths) == 4
    return torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
                        for p in paths])


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _shift(x: torch.Tensor) -> torch.Tensor:
    """Shift right by one pixel, repeating the first column."""
    return torch.cat([x[..., :1], x[..., :-1]], dim=-1)


# ------------------------------------------------------------------------------------------------
# rates


def test_accuracy_and_misclassification_by_hand():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 5.0], [4.0, 0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 2])  # predicted 0, 1, 2, 0: two right
    assert M.accuracy(logits, labels) == 0.5
    assert M.misclassification_rate(logits, labels) == 0.5
    pred = torch.tensor([0, 1, 2, 2])
    assert M.accuracy(pred, labels) == 0.75
    assert M.misclassification_rate(pred, labels) == 0.25
    assert isinstance(M.accuracy(pred, labels), float)
    assert M.misclassification_rate(pred, pred) == 0.0


def test_targeted_success_rate_by_hand():
    targets = torch.tensor([2, 2, 0, 1, 1])
    assert M.targeted_success_rate(torch.tensor([2, 0, 0, 1, 2]), targets) == pytest.approx(0.6)
    logits = torch.nn.functional.one_hot(targets, 3).float()
    assert M.targeted_success_rate(logits, targets) == 1.0


@pytest.mark.parametrize("call", [
    lambda: M.accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1])),      # float 1-D predictions
    lambda: M.accuracy(torch.zeros(2, 3), torch.tensor([0, 1, 1])),          # length mismatch
    lambda: M.accuracy(torch.zeros(2, 3), torch.tensor([0, 3])),             # label out of range
    lambda: M.accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),  # empty
    lambda: M.accuracy(torch.tensor([0, 1]), torch.tensor([0, -1])),         # negative label
    lambda: M.accuracy(torch.zeros(2, 3, 1), torch.tensor([0, 1])),          # wrong rank
    lambda: M.targeted_success_rate(torch.tensor([0, 1]), torch.tensor([[0, 1]])),
])
def test_rates_value_errors(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("call", [
    lambda: M.accuracy([0, 1], torch.tensor([0, 1])),
    lambda: M.accuracy(torch.tensor([0, 1]), torch.tensor([0.0, 1.0])),
    lambda: M.misclassification_rate(torch.tensor([True, False]), torch.tensor([0, 1])),
])
def test_rates_type_errors(call):
    with pytest.raises(TypeError):
        call()


def test_true_label_rank_by_hand_with_ties():
    scores = torch.tensor([[3.0, 2.0, 1.0],   # true 0: rank 1
                           [3.0, 2.0, 1.0],   # true 2: rank 3
                           [1.0, 1.0, 0.0],   # true 1, tied at the top with 0 (argmax says 0): rank 1
                           [2.0, 1.0, 1.0],   # true 2, tied with 1 below 0: rank 2
                           [0.0, 0.0, 0.0],   # all tied: rank 1
                           [5.0, 5.0, 1.0]])  # true 2, two strictly higher: rank 3
    ranks = M.true_label_rank(scores, torch.tensor([0, 2, 1, 2, 1, 2]))
    assert ranks.dtype == torch.int64 and ranks.tolist() == [1, 3, 1, 2, 1, 3]
    # the lecture's r_x(i): sorting the scores, the true label is r_x(rank) (without ties)
    g = torch.Generator().manual_seed(1)
    scores, labels = torch.randn(40, 6, generator=g), torch.randint(0, 6, (40,), generator=g)
    order = scores.argsort(1, descending=True)
    assert torch.equal(order.gather(1, M.true_label_rank(scores, labels)[:, None] - 1)[:, 0], labels)


def test_rank_probability_by_hand_and_sums_to_one():
    p = M.rank_probability(torch.tensor([1, 3, 1, 2, 1, 3, 1, 1]), 4)
    torch.testing.assert_close(p, torch.tensor([5 / 8, 1 / 8, 2 / 8, 0.0]))
    assert p.dtype == torch.get_default_dtype() and M.rank_probability(torch.tensor([2]), 3, dtype=torch.float64
                                                                       ).tolist() == [0.0, 1.0, 0.0]
    g = torch.Generator().manual_seed(2)
    scores, labels = torch.randn(30, 7, generator=g), torch.randint(0, 7, (30,), generator=g)
    p = M.rank_probability(M.true_label_rank(scores, labels), 7)
    assert p.shape == (7,) and float(p.sum()) == pytest.approx(1.0)
    # summed over the first k ranks: the top-k accuracy (the cumulative match characteristic)
    for k in range(1, 8):
        top = (scores.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean()
        assert float(p[:k].sum()) == pytest.approx(float(top)), k
    assert float(p[0]) == pytest.approx(M.accuracy(scores, labels))
    # k-anonymity in the lecture's sense: the true label spread evenly over k = 5 ranks
    ranks = torch.arange(1, 6).repeat(4)
    assert float(M.rank_probability(ranks, 10).max()) == pytest.approx(1 / 5)


@pytest.mark.parametrize("call, error", [
    (lambda: M.true_label_rank(torch.tensor([[1, 2]]), torch.tensor([0])), TypeError),
    (lambda: M.true_label_rank(torch.zeros(3), torch.tensor([0, 1, 2])), ValueError),
    (lambda: M.true_label_rank(torch.zeros(2, 3), torch.tensor([0, 3])), ValueError),
    (lambda: M.true_label_rank(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0])), ValueError),
    (lambda: M.rank_probability(torch.tensor([0, 1]), 3), ValueError),
    (lambda: M.rank_probability(torch.tensor([1, 4]), 3), ValueError),
    (lambda: M.rank_probability(torch.tensor([1.0]), 3), TypeError),
    (lambda: M.rank_probability(torch.tensor([1]), 0), ValueError),
    (lambda: M.rank_probability(torch.zeros(0, dtype=torch.long), 3), ValueError),
])
def test_rank_functions_bad_input(call, error):
    with pytest.raises(error):
        call()


# ------------------------------------------------------------------------------------------------
# L2 and MSE


def test_l2_and_mse_by_hand():
    x = torch.zeros(2, 3, 2, 2)
    x_adv = x.clone()
    x_adv[0] += 0.5             # 12 values changed by 0.5: L2 = sqrt(12 * 0.25) = sqrt(3)
    x_adv[1, 0, 0, 0] = 0.3     # one value by 0.3
    torch.testing.assert_close(M.l2_norm(x_adv, x), torch.tensor([math.sqrt(3), 0.3]))
    torch.testing.assert_close(M.l2_norm(x_adv, x, scale=255), torch.tensor([255 * math.sqrt(3), 76.5]))
    torch.testing.assert_close(M.mse(x_adv, x), torch.tensor([0.25, 0.09 / 12]))
    assert M.l2_norm(x, x).tolist() == [0.0, 0.0]


def test_l2_is_differentiable():
    x = torch.full((1, 3, 4, 4), 0.5)
    x_adv = (x + 0.1).requires_grad_()
    M.l2_norm(x_adv, x).sum().backward()
    assert torch.isfinite(x_adv.grad).all() and x_adv.grad.abs().sum() > 0


@pytest.mark.parametrize("fn", [M.l2_norm, M.mse, M.ssim, M.cw_ssim])
def test_image_metrics_bad_input(fn):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="same shape"):
        fn(x, torch.rand(2, 3, 32, 31))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(x * 2, x)
    with pytest.raises(ValueError, match="empty"):
        fn(torch.rand(0, 3, 32, 32), torch.rand(0, 3, 32, 32))
    with pytest.raises(ValueError, match="3"):
        fn(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError):
        fn(x.numpy(), x)
    with pytest.raises(TypeError):
        fn((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))


def test_l2_bad_scale():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="scale"):
        M.l2_norm(x, x, scale=0)


# ------------------------------------------------------------------------------------------------
# SSIM


def _skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return np.array([structural_similarity(a.double().numpy(), b.double().numpy(), gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False, channel_axis=0,
                                           data_range=1)
                     for a, b in zip(x, y)])


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.1, 0.3])
def test_ssim_agrees_with_skimage_on_faces(faces, sigma):
    y = _noisy(faces, sigma) if sigma else faces.flip(0)  # sigma 0: other faces
    ours = M.ssim(faces, y).numpy()
    np.testing.assert_allclose(ours, _skimage_ssim(faces, y), atol=1e-4)


def test_ssim_agrees_with_skimage_on_small_and_odd_sizes():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 23, 17, generator=g)
    y = (0.7 * x + 0.3 * torch.rand(2, 3, 23, 17, generator=g)).clamp(0, 1)
    np.testing.assert_allclose(M.ssim(x, y).numpy(), _skimage_ssim(x, y), atol=1e-4)


def test_ssim_by_hand_constant_images():
    # constant images: the variances vanish, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.2, 0.6, 0.01**2
    x, y = torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert float(M.ssim(x, y)) == pytest.approx(expected, rel=1e-5)
    assert float(M.ssim(x, x)) == pytest.approx(1.0)


def test_ssim_data_range():
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    torch.testing.assert_close(M.ssim(255 * x, 255 * y, data_range=255), M.ssim(x, y), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="data_range"):
        M.ssim(255 * x, 255 * y)  # 8-bit values without data_range: out of [0, 1]
    with pytest.raises(ValueError, match="data_range"):
        M.ssim(x, y, data_range=0)


def test_ssim_too_small():
    with pytest.raises(ValueError, match="11"):
        M.ssim(torch.rand(1, 3, 10, 32), torch.rand(1, 3, 10, 32))


@pytest.mark.parametrize("fn", [M.ssim, M.cw_ssim, M.mse])
def test_similarities_are_differentiable(faces, fn):
    x = torch.nn.functional.interpolate(faces[:2], size=48, mode="area").clamp(0, 1)
    y = _noisy(x, 0.1).requires_grad_()
    fn(x, y).sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# CW-SSIM


def test_cw_ssim_identical_is_one(faces):
    torch.testing.assert_close(M.cw_ssim(faces[:2], faces[:2]), torch.ones(2))
    flat = torch.full((1, 3, 16, 16), 0.4)
    torch.testing.assert_close(M.cw_ssim(flat, flat), torch.ones(1))


def test_cw_ssim_tolerates_a_one_pixel_shift(faces):
    faces = faces[:2]
    shifted = _shift(faces)
    cw, s = M.cw_ssim(faces, shifted), M.ssim(faces, shifted)
    assert (cw > 0.97).all(), cw
    # SSIM loses 3 to 4 times as much of its range: (1 - SSIM) >= 3 (1 - CW-SSIM)
    assert ((1 - s) > 3 * (1 - cw)).all(), (cw, s)
    # the shift hurts less than light noise that SSIM rates similarly
    assert (cw > M.cw_ssim(faces, _noisy(faces, 0.05))).all()


def test_cw_ssim_decreases_with_noise(faces):
    values = [float(M.cw_ssim(faces[:1], _noisy(faces[:1], s)).mean()) for s in (0.0, 0.02, 0.05, 0.1, 0.3)]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(values, values[1:])), values
    assert values[-1] < 0.8


def test_cw_ssim_different_faces_score_low(faces):
    assert (M.cw_ssim(faces[:2], faces[2:]) < 0.7).all()


def test_cw_ssim_bad_arguments():
    x = torch.rand(1, 3, 16, 16)
    for kwargs in ({"k": 0}, {"levels": ()}, {"levels": (1, 1)}, {"levels": (-1,)}, {"n_orientations": 0},
                   {"win_size": 0}):
        with pytest.raises(ValueError):
            M.cw_ssim(x, x, **kwargs)
    with pytest.raises(ValueError, match="7"):
        M.cw_ssim(torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5))


# ------------------------------------------------------------------------------------------------
# faceness and diversity


def test_faceness_wraps_a_detector():
    chips = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    torch.testing.assert_close(M.faceness(chips, lambda c: c.mean((1, 2, 3))), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(M.faceness(chips, lambda c: np.array([0.25, 0.5])), torch.tensor([0.25, 0.5]))
    torch.testing.assert_close(M.faceness(chips, lambda c: [1, 2]), torch.tensor([1.0, 2.0]))


def test_faceness_bad_input():
    chips = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="one score per chip"):
        M.faceness(chips, lambda c: torch.zeros(3))
    with pytest.raises(ValueError, match="one score per chip"):
        M.faceness(chips, lambda c: torch.zeros(2, 1))
    with pytest.raises(ValueError, match="non-finite"):
        M.faceness(chips, lambda c: torch.tensor([0.0, float("nan")]))
    with pytest.raises(TypeError, match="callable"):
        M.faceness(chips, "hog")
    with pytest.raises(TypeError):
        M.faceness(chips, lambda c: "face")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.faceness(chips * 3, lambda c: torch.zeros(2))


def test_diversity_by_hand():
    a, b, c = torch.zeros(3, 2, 2), torch.ones(3, 2, 2), torch.full((3, 2, 2), 0.5)
    # pairs: |a-b| = sqrt(12), |a-c| = |b-c| = sqrt(3)
    expected = (math.sqrt(12) + 2 * math.sqrt(3)) / 3
    assert float(M.diversity(torch.stack([a, b, c]))) == pytest.approx(expected, rel=1e-6)
    same = torch.rand(1, 3, 16, 16).expand(4, 3, 16, 16)
    assert float(M.diversity(same)) == pytest.approx(0.0, abs=1e-6)
    assert float(M.diversity(same, metric="ssim")) == pytest.approx(0.0, abs=1e-5)


def test_diversity_ssim_is_mean_of_pairwise_ssim(faces):
    expected = np.mean([1 - float(M.ssim(faces[i:i + 1], faces[j:j + 1])) for i in range(4) for j in range(i + 1, 4)])
    assert float(M.diversity(faces, metric="ssim")) == pytest.approx(expected, rel=1e-5)


def test_diversity_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        M.diversity(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="metric"):
        M.diversity(torch.rand(2, 3, 16, 16), metric="lpips")
    with pytest.raises(ValueError, match="empty"):
        M.diversity(torch.rand(0, 3, 16, 16))


# ------------------------------------------------------------------------------------------------
# devices


def test_device_argument():
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert M.ssim(x, y, device="cpu").device.type == "cpu"
    assert M.l2_norm(x, y, device=torch.device("cpu")).shape == (2,)
    assert M.true_label_rank(torch.rand(2, 3), torch.tensor([0, 1]), device="cpu").shape == (2,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(faces):
    y = _noisy(faces, 0.05)
    for fn in (M.l2_norm, M.mse, M.ssim, M.cw_ssim):
        on_gpu = fn(faces.to("cuda"), y.to("cuda"))
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), fn(faces, y), rtol=1e-4, atol=1e-4)
    assert fn(faces, y, device="cuda").device.type == "cuda"
    logits = torch.randn(8, 5).to("cuda")
    labels = torch.randint(0, 5, (8,)).to("cuda")
    assert M.true_label_rank(logits, labels).device.type == "cuda"
    assert M.accuracy(logits, labels) == M.accuracy(logits.cpu(), labels.cpu())


def test_outcomes_count_succeeded_failed_and_detected_and_a_rejection_is_never_a_miss():
    labels = torch.tensor([0, 1, 2, 3, 4])
    pred = torch.tensor([0, M.REJECT, 1, M.REJECT, 4])
    assert M.outcomes(pred, labels) == {"succeeded": 1, "failed": 2, "detected": 2, "n": 5}
    plain = torch.tensor([0, 2, 1, 3, 0])  # no defence: succeeded / n is the misclassification rate
    counts = M.outcomes(plain, labels)
    assert counts["detected"] == 0 and counts["succeeded"] / counts["n"] == M.misclassification_rate(plain, labels)
    with pytest.raises(ValueError, match="outcomes"):
        M.misclassification_rate(pred, labels)
    with pytest.raises(TypeError, match="integer"):
        M.outcomes(torch.rand(5, 3), labels)
    with pytest.raises(ValueError, match="REJECT"):
        M.outcomes(torch.tensor([0, -2, 1, 3, 4]), labels)
    with pytest.raises(ValueError, match="entries"):
        M.outcomes(pred, labels[:3])


@pytest.mark.parametrize("shape", [(3, 3, 40, 33), (1, 3, 11, 11)])
def test_ssim_reference_gives_ssims_values_and_gradients_to_the_bit(shape):
    g = torch.Generator().manual_seed(3)
    clean = torch.rand(shape, generator=g)
    ssim_to = M.SSIMReference(clean)
    for scale in (0.01, 0.3):  # two calls against the same reference
        noisy = (clean + scale * torch.randn(shape, generator=g)).clamp(0, 1)
        a = noisy.clone().requires_grad_(True)
        b = noisy.clone().requires_grad_(True)
        ours, theirs = ssim_to(a), M.ssim(b, clean)
        assert torch.equal(ours, theirs)
        ours.sum().backward()
        theirs.sum().backward()
        assert torch.equal(a.grad, b.grad)
    assert torch.equal(ssim_to(clean), torch.ones(shape[0]))


def test_ssim_reference_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least 11"):
        M.SSIMReference(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.SSIMReference(torch.full((1, 3, 16, 16), 2.0))
    with pytest.raises(ValueError, match="reference's shape"):
        M.SSIMReference(torch.rand(2, 3, 16, 16))(torch.rand(1, 3, 16, 16))


def test_average_precision_at_iou():
    from facedid_lib.metrics import average_precision, box_iou

    truth = {"a": [(0, 0, 10, 10)], "b": [(0, 0, 10, 10), (20, 20, 30, 30)], "c": []}
    perfect = {"a": [(0, 0, 10, 10, 0.9)], "b": [(0, 0, 10, 10, 0.8), (20, 20, 30, 30, 0.7)]}
    assert average_precision(perfect, truth) == (1.0, 1.0)
    # a false alarm scored below every hit costs nothing; above them it lowers every precision
    low = average_precision({**perfect, "c": [(0, 0, 5, 5, 0.1)]}, truth)
    assert low == (1.0, 1.0)
    high_ap, high_recall = average_precision({**perfect, "c": [(0, 0, 5, 5, 0.95)]}, truth)
    assert high_recall == 1.0 and high_ap == pytest.approx(0.75)  # precision 1/2, 2/3, 3/4 at recall 1/3, 2/3, 1
    # one box matched twice: the second is a false alarm; IoU below the threshold: a miss
    twice = {"a": [(0, 0, 10, 10, 0.9), (0, 0, 10, 10, 0.8)]}
    assert average_precision(twice, truth) == pytest.approx((1 / 3, 1 / 3))
    shifted = {"a": [(6, 0, 16, 10, 0.9)]}
    assert float(box_iou([(0, 0, 10, 10)], [(6, 0, 16, 10)])[0, 0]) == pytest.approx(0.25)
    assert average_precision(shifted, truth) == (0.0, 0.0)
    assert average_precision(shifted, truth, iou=0.25) == pytest.approx((1 / 3, 1 / 3))
    assert average_precision({}, truth) == (0.0, 0.0)
    with pytest.raises(ValueError, match="ground truth"):
        average_precision({"z": []}, truth)
    with pytest.raises(ValueError, match="no box"):
        average_precision({}, {"a": []})
    with pytest.raises(ValueError, match="iou"):
        average_precision({}, truth, iou=0)
