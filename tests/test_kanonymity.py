"""k-A^3: designated ranks in equal shares, the rank loss, the attack on a small model, the widget."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from facedid_lib import metrics
from facedid_lib.attacks import adversarial
from facedid_lib.attacks.kanonymity import KAnonymity, designated_ranks, rank_loss


def linear_model(n_classes=12, size=16, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, n_classes)).eval()


@pytest.mark.parametrize("n, k", [(30, 5), (30, 9), (7, 1), (3, 5)])
def test_designated_ranks_are_in_equal_shares(n, k):
    ranks = designated_ranks(n, k, torch.Generator().manual_seed(0))
    assert ranks.shape == (n,) and ranks.min() >= 2 and ranks.max() <= k + 1
    counts = torch.bincount(ranks, minlength=k + 2)[2:]
    assert counts.max() - counts.min() <= 1
    assert counts.max() == math.ceil(n / k) if n >= k else counts.max() == 1
    assert torch.equal(ranks, designated_ranks(n, k, torch.Generator().manual_seed(0)))  # seeded
    with pytest.raises(ValueError, match="k must"):
        designated_ranks(n, 0)


def test_rank_loss_is_zero_exactly_for_the_designated_order():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    y = torch.tensor([0])
    above = torch.tensor([[False, True, True, False, False]])  # y must be third, behind labels 1 and 2
    assert rank_loss(logits, y, above) > 0
    good = torch.tensor([[3.5, 4.0, 5.0, 2.0, 1.0]])
    assert rank_loss(good, y, above) == 0
    assert metrics.true_label_rank(good, y).item() == 3
    too_low = torch.tensor([[1.5, 4.0, 5.0, 2.0, 1.0]])  # y fell behind label 3 as well
    assert rank_loss(too_low, y, above).item() == pytest.approx(0.5)
    assert rank_loss(good, y, above, kappa=1.0).item() == pytest.approx(0.5)  # only label 1 is within the margin


@pytest.mark.parametrize("k", [1, 3, 5])
def test_k_anonymity_puts_the_true_label_at_its_designated_rank(k):
    model = linear_model()
    x = torch.rand(10, 3, 16, 16)
    y = model(x).argmax(1)
    attack = KAnonymity(model, k=k, steps=60, search_steps=3)
    out = attack(x, y)
    ranks = metrics.true_label_rank(model(out), y)
    assert torch.equal(ranks, attack.designated)
    assert (ranks > 1).all()
    probability = metrics.rank_probability(ranks, 12)
    assert probability.max() <= math.ceil(10 / k) / 10 + 1e-9
    assert metrics.ssim(out, x).min() > 0.9
    assert out.min() >= 0 and out.max() <= 1


def test_k_anonymity_distance_is_l2_plus_ssim_and_keeps_no_clean_faces():
    model = linear_model()
    x = torch.rand(4, 3, 16, 16)
    attack = KAnonymity(model, k=2, w_ssim=2.0, steps=5, search_steps=1)
    adv = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    expected = (adv - x).flatten(1).norm(dim=1) + 2.0 * (1 - metrics.ssim(adv, x))
    for _ in range(2):  # the second call reuses the clean faces' statistics
        assert torch.allclose(attack.distance(adv, x), expected, rtol=0, atol=1e-6)
    attack(x, model(x).argmax(1))
    assert attack._ssim_to is None


def test_k_anonymity_over_a_set_and_its_errors():
    model = linear_model()
    x = torch.rand(9, 3, 16, 16)
    y = model(x).argmax(1)
    attack = adversarial.make("k-A^3", model, k=3, steps=30, search_steps=2)
    out = attack.perturb(x, y, batch_size=4, progress=False)
    assert attack.designated.shape == (9,) and attack.c.shape == (9,)
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="untargeted"):
        KAnonymity(model, target="random")
    with pytest.raises(ValueError, match="needs at least"):
        KAnonymity(model, k=12)(x, y)
    with pytest.raises(ValueError, match="k must"):
        KAnonymity(model, k=0)
    with pytest.raises(ValueError, match="w_ssim"):
        KAnonymity(model, w_ssim=-1)


def test_rank_view_and_explorer():
    import matplotlib.pyplot as plt

    from facedid_lib.viz import widgets

    model = linear_model()
    x = torch.rand(4, 3, 16, 16)
    y = model(x).argmax(1)
    fig = widgets.rank_view(model, x, y, "k-A^3", **{"k-A^3_k": 2, "k-A^3_w_ssim": 1.0, "k-A^3_steps": 20,
                                                      "k-A^3_search_steps": 2})
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in fig.axes[-1].get_lines())  # the 1/k line, k = 2
    plt.close(fig)
    explorer = widgets.rank_explorer(model, x, y, attacks=("DeepFool", "k-A^3"))
    explorer.update(attack="DeepFool")
    assert explorer.figure is not None
