"""The minimal attacks (DeepFool, C&W, L-BFGS): closed-form optima, torchattacks, its issue 184, errors."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.data import facesets as data
from facedid_lib.attacks import adversarial, minimal
from facedid_lib.recognize.recognizers import ModelA


@pytest.fixture(scope="module")
def faces(data_folder):
    return data.load_faces(data_folder, n_identities=4, per_identity=3, size=32, progress=False)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ModelA(4, 32).eval()


class Shifted(nn.Module):
    """``model``'s logits plus a constant: the same classifier, the same margins, other signs."""

    def __init__(self, model, shift):
        super().__init__()
        self.model, self.shift = model, shift

    def forward(self, x):
        return self.model(x) + self.shift


def linear_model(n_classes=4, size=8, seed=0, scale=1.0, bias=None):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, n_classes)).eval()
    with torch.no_grad():
        model[1].weight.mul_(scale)
        model[1].bias.mul_(scale)
        if bias is not None:
            model[1].bias.fill_(bias)
    return model


def interior_faces(n=6, size=8, seed=1):
    """Faces in [0.25, 0.75]: the perturbations below stay far from the box [0, 1]."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 0.5 + 0.25


def l2(a, b):
    return (a - b).flatten(1).norm(dim=1)


def hyperplanes(model, x, y):
    """``f'_k = Z_k - Z_y`` and ``w_k = W_k - W_y`` of a linear model, every class ``k`` (``(N, C)``, ``(N, C, D)``)."""
    weight = model[1].weight.detach()
    with torch.no_grad():
        z = model(x)
    return z - z.gather(1, y[:, None]), weight[None] - weight[y][:, None]


def runner_up(logits, y):
    return logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).argmax(1)


# --- DeepFool ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
def test_deepfool_on_a_linear_model_steps_to_the_nearest_hyperplane_in_one_iteration(n_classes):
    model = linear_model(n_classes)
    x = interior_faces()
    y = model(x).argmax(1).detach()
    f, w = hyperplanes(model, x, y)
    ratio = f.abs() / w.norm(dim=2)
    ratio[torch.arange(len(x)), y] = float("inf")
    nearest = ratio.argmin(1)  # the exact minimal L2 perturbation is ratio.min(1): nothing leaves y's cell sooner
    f_l, w_l = f[torch.arange(len(x)), nearest], w[torch.arange(len(x)), nearest]
    step = ((f_l.abs() + 1e-4) / w_l.pow(2).sum(1))[:, None] * w_l
    attack = minimal.DeepFool(model, steps=10, overshoot=0.02)
    out = attack(x, y)
    assert torch.allclose(out, x + 1.02 * step.view_as(x), atol=1e-6)
    assert attack.iterations.tolist() == [1] * len(x)
    assert (model(out).argmax(1) == nearest).all()
    assert torch.allclose(l2(out, x), 1.02 * (ratio.min(1).values + 1e-4 / w_l.norm(dim=1)), rtol=1e-4)
    assert attack.history["success"] == [0.0, 1.0]
    assert attack.history["l2"][0] == 0.0


def test_deepfool_candidates_restrict_the_classes_to_the_highest_clean_logits():
    model = linear_model(6, seed=2)
    x = interior_faces(8)
    y = model(x).argmax(1).detach()
    assert torch.equal(minimal.DeepFool(model, candidates=6)(x, y), minimal.DeepFool(model)(x, y))
    out = minimal.DeepFool(model, candidates=2)(x, y)  # only the runner-up's hyperplane
    f, w = hyperplanes(model, x, y)
    second = runner_up(model(x), y)
    rows = torch.arange(len(x))
    step = ((f[rows, second].abs() + 1e-4) / w[rows, second].pow(2).sum(1))[:, None] * w[rows, second]
    assert torch.allclose(out, x + 1.02 * step.view_as(x), atol=1e-6)


def test_deepfool_agrees_with_torchattacks_and_a_face_does_not_depend_on_its_batch(faces, model, one_thread):
    torchattacks = pytest.importorskip("torchattacks")
    x = faces.images
    with torch.no_grad():
        y = model(x).argmax(1)  # every face recognised: each must be moved
    attack = minimal.DeepFool(model, steps=50, overshoot=0.02)
    ours = attack(x, y)
    theirs = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y)
    with torch.no_grad():
        fooled_ours, fooled_theirs = model(ours).argmax(1) != y, model(theirs).argmax(1) != y
    assert fooled_ours.all() and (attack.iterations >= 1).all()
    # torchattacks overshoots each step (x_{i+1} = x_i + 1.02 r_i, no 1e-4), not the sum: where the
    # box clips, its steps shrink geometrically and a face can stall on the boundary (a tie).
    both = fooled_ours & fooled_theirs
    assert both.sum() >= len(x) - 2
    assert torch.allclose(l2(ours, x)[both], l2(theirs, x)[both], rtol=0.02)
    alone = torch.cat([attack(x[i:i + 1], y[i:i + 1]) for i in range(4)])
    assert torch.allclose(alone, ours[:4], atol=1e-5)


# --- L-BFGS --------------------------------------------------------------------------------------
def test_lbfgs_on_a_linear_model_reaches_the_runner_up_with_the_least_norm():
    # Sharp logits (scale 30): near the boundary of y and t every other class has ~0 softmax mass,
    # so the cross-entropy pulls along W_t - W_y. With soft logits (scale 1) the other classes bend
    # the path and the norm is 13-19 % above the optimum: Szegedy's loss, not the solver.
    model = linear_model(scale=30.0)
    x = interior_faces()
    with torch.no_grad():
        logits = model(x)
    y = logits.argmax(1)
    t = runner_up(logits, y)
    f, w = hyperplanes(model, x, y)
    rows = torch.arange(len(x))
    optimum = f[rows, t].abs() / w[rows, t].norm(dim=1)  # projection on Z_t = Z_y
    with torch.no_grad():  # ... which lies in t's region: it is the minimal perturbation to reach t
        projected = x + ((f[rows, t].abs() * 1.001 / w[rows, t].pow(2).sum(1))[:, None] * w[rows, t]).view_as(x)
        assert torch.equal(model(projected).argmax(1), t)
    attack = minimal.LBFGS(model, steps=100, search_steps=10)
    out = attack(x, y)
    assert torch.equal(attack.targets, t)
    assert torch.equal(model(out).argmax(1), t)
    ratio = l2(out, x) / optimum
    assert (ratio > 1 - 1e-4).all() and (ratio < 1.02).all(), ratio
    assert (attack.c > 0).all()
    assert set(attack.history) == {"loss", "success", "l2"} and attack.history["success"][-1] == 1.0


def test_lbfgs_targets_given_and_least_likely_and_failures_come_back_unchanged():
    model = linear_model(scale=10.0)
    x = interior_faces(3)
    y = model(x).argmax(1).detach()
    attack = minimal.LBFGS(model, steps=30, search_steps=2, target="least_likely")
    out = attack(x, y)
    assert torch.equal(attack.targets, model(x).argmin(1))
    assert torch.equal(model(out).argmax(1), attack.targets)
    # one L-BFGS iteration from c = 10^4 and no room to bracket: nothing adversarial, the face comes back
    hopeless = minimal.LBFGS(model, c=1e4, steps=1, search_steps=0, bracket_steps=0)
    assert torch.equal(hopeless(x, y), x)
    assert hopeless.c.isnan().all() and hopeless.history["success"] == [0.0]


def test_lbfgs_solver_finds_the_box_constrained_minimum_row_by_row():
    # f_i(z) = w_i ||z - a_i||² with targets outside the box and curvatures 10^-2 .. 10^2 across the rows:
    # the minimum is clip(a_i, 0, 1) on the free variables, the start on the others; each row alone gives the same
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(4, 50, generator=gen) * 3 - 1
    weight = torch.tensor([1e-2, 1.0, 10.0, 100.0])
    free = torch.rand(4, 50, generator=gen) > 0.2
    start = torch.rand(4, 50, generator=gen)

    def objective(z, rows):
        return (weight[rows, None] * (z - a[rows]).pow(2)).sum(1), 2 * weight[rows, None] * (z - a[rows])

    z = minimal.LBFGS.minimise(objective, start, free, steps=50)
    expected = torch.where(free, a.clamp(0, 1), start)
    assert torch.allclose(z, expected, atol=1e-4), (z - expected).abs().max()
    alone = minimal.LBFGS.minimise(lambda z, rows: objective(z, rows + 3), start[3:], free[3:], steps=50)
    assert torch.allclose(alone, z[3:], atol=1e-6)


# --- C&W -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("targeted", [False, True])
def test_cw_on_a_linear_model_is_within_a_few_percent_of_the_optimum(targeted):
    model = linear_model()
    x = interior_faces()
    with torch.no_grad():
        logits = model(x)
    y = logits.argmax(1)
    f, w = hyperplanes(model, x, y)
    rows = torch.arange(len(x))
    if targeted:
        t = runner_up(logits, y)  # its region starts at the projection on Z_t = Z_y (see the L-BFGS test)
        optimum = f[rows, t].abs() / w[rows, t].norm(dim=1)
    else:
        ratio = f.abs() / w.norm(dim=2)
        ratio[rows, y] = float("inf")
        optimum = ratio.min(1).values
    attack = minimal.CW(model, c=1.0, steps=200, lr=0.005, search_steps=8)
    out = attack(x, y, targets=t if targeted else None)
    with torch.no_grad():
        pred = model(out).argmax(1)
    assert torch.equal(pred, t) if targeted else (pred != y).all()
    ratio = l2(out, x) / optimum
    assert (ratio > 1 - 1e-4).all() and (ratio < 1.03).all(), ratio
    assert len(attack.history["success"]) == 8 and attack.history["success"][-1] == 1.0
    assert attack.history["distance"][-1] == pytest.approx(float(l2(out, x).pow(2).mean()), rel=1e-5)
    assert (attack.c > 0).all()


def test_cw_margin_loss_and_kappa_success():
    logits = torch.tensor([[-3.0, -1.0, -2.0], [1.0, 4.0, 0.5]])
    goal = torch.tensor([1, 2])
    # untargeted: Z_y - max_{j≠y} Z_j; targeted: max_{j≠t} Z_j - Z_t; floored at -κ
    assert minimal.cw_margin(logits, goal, False).tolist() == [1.0, 0.0]
    assert minimal.cw_margin(logits, goal, False, kappa=5.0).tolist() == [1.0, -3.5]
    assert minimal.cw_margin(logits, goal, True, kappa=5.0).tolist() == [-1.0, 3.5]
    attack = minimal.CW(linear_model(3), kappa=0.7)
    margins = torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.5, 1.0]])  # class 2 trails by 0.5, then leads by 0.5
    assert attack.success(margins, torch.tensor([2, 1])).tolist() == [False, False]  # a lead of 0.5 < κ
    assert minimal.CW(linear_model(3)).success(margins, torch.tensor([2, 1])).tolist() == [True, True]


def test_torchattacks_issue_184_their_f_is_wrong_when_every_logit_is_negative():
    """torchattacks 3.3.0 takes ``max((1 - one_hot) * Z)``: with all logits negative the masked 0 wins."""
    torchattacks = pytest.importorskip("torchattacks")
    model = linear_model(bias=-10.0)
    x = interior_faces()
    with torch.no_grad():
        logits = model(x)
    assert (logits < 0).all()
    y = logits.argmax(1)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    true_margin = z_y - logits.masked_fill(F.one_hot(y, 4).bool(), float("-inf")).amax(1)
    assert (true_margin > 0).all()
    for kappa in (0.0, 20.0):
        theirs = torchattacks.CW(model, kappa=kappa).f(logits, y)
        ours = minimal.CW(model, kappa=kappa).loss(logits, x, y)
        assert torch.allclose(ours, true_margin.clamp_min(-kappa))
        # theirs is max(Z_y - 0, -κ): 0 for κ = 0 (every face looks fooled already), Z_y ≈ -10 for κ = 20
        assert torch.equal(theirs, z_y.clamp_min(-kappa))
    assert torch.equal(torchattacks.CW(model).f(logits, y), torch.zeros(len(x)))


def test_cw_against_torchattacks_without_and_with_the_search(faces, model, one_thread):
    torchattacks = pytest.importorskip("torchattacks")
    x = faces.images
    with torch.no_grad():
        y = model(x).argmax(1)
    # The untrained Model A's logits are ~±0.04, its other logits mostly negative: there
    # torchattacks' CW meets issue 184 (it drives Z_y to 0 and stops). Adding 10 to every logit
    # changes neither the classifier nor C&W's f, but gives torchattacks the right f.
    shifted = Shifted(model, 10.0).eval()
    settings = dict(c=100.0, kappa=0.0, steps=50, lr=0.01)
    theirs = torchattacks.CW(shifted, **settings)(x, y)
    ours = minimal.CW(shifted, search_steps=1, **settings)(x, y)
    with torch.no_grad():
        fooled_ours, fooled_theirs = model(ours).argmax(1) != y, model(theirs).argmax(1) != y
    assert torch.equal(fooled_ours, fooled_theirs) and fooled_ours.sum() >= len(x) - 1
    assert torch.allclose(l2(ours, x)[fooled_ours], l2(theirs, x)[fooled_ours], rtol=0.05)
    # the search over c (smaller c after a success) never returns a larger perturbation on average
    searched = minimal.CW(shifted, search_steps=4, **settings)(x, y)
    with torch.no_grad():
        fooled_searched = model(searched).argmax(1) != y
    both = fooled_searched & fooled_theirs
    assert fooled_searched.sum() >= fooled_theirs.sum()
    assert l2(searched, x)[both].mean() <= l2(theirs, x)[both].mean() + 1e-6
    # issue 184 on the real model: ours does not see the shift, theirs fails where all other logits are < 0
    unshifted_ours = minimal.CW(model, search_steps=1, **settings)(x, y)
    unshifted_theirs = torchattacks.CW(model, **settings)(x, y)
    with torch.no_grad():
        assert torch.equal(model(unshifted_ours).argmax(1) != y, fooled_ours)
        assert (model(unshifted_theirs).argmax(1) != y).sum() < fooled_theirs.sum()
    assert torch.allclose(unshifted_ours, ours, atol=1e-3)


def test_cw_mask_keeps_the_other_pixels_and_failures_come_back_unchanged():
    model = linear_model(scale=5.0)
    x = interior_faces(3)
    y = model(x).argmax(1).detach()
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., :4, :] = True
    out = minimal.CW(model, c=10.0, steps=100, lr=0.02, search_steps=2, mask=mask)(x, y)
    assert torch.equal(out[..., 4:, :], x[..., 4:, :])
    assert (model(out).argmax(1) != y).all()
    per_face = mask.expand(3, 1, 8, 8).clone()
    per_face[1] = False  # face 1 may not change at all: it cannot be fooled
    attack = minimal.CW(model, c=10.0, steps=20, lr=0.02, search_steps=1, mask=per_face)
    out = attack(x, y)
    assert torch.equal(out[1], x[1]) and attack.c[1].isnan() and not attack.c[0].isnan()


# --- all three -----------------------------------------------------------------------------------
def test_registered_made_by_name_and_pooled_over_batches(faces, model, one_thread):
    assert {"l-bfgs", "deepfool", "cw"} <= set(adversarial.ATTACKS)  # keys; the titles are aliases
    titles = ("L-BFGS", "DeepFool", "C&W")
    assert [adversarial.ATTACKS[title] for title in titles] == [minimal.LBFGS, minimal.DeepFool, minimal.CW]
    x, y = faces.images, faces.labels
    attack = adversarial.make("C&W", model, c=50.0, steps=5, search_steps=2)
    assert repr(attack) == "CW(c=50.0, kappa=0.0, steps=5, lr=0.01, search_steps=2, target='untargeted')"
    attack.perturb(x, y, batch_size=5, progress=False)
    assert set(attack.history) == {"loss", "round_success", "success", "distance"}
    assert len(attack.history["loss"]) == 2
    assert repr(attack).startswith("CW(c=50.0,")  # the per-face constants do not replace the parameter
    deepfool = adversarial.make("DeepFool", model, steps=3)
    deepfool.perturb(x, y, batch_size=5, progress=False)
    if hasattr(adversarial.Attack, "per_face"):  # perturb concatenates the per-face records
        assert deepfool.iterations.shape == (len(x),)
        assert attack.c.shape == (len(x),)
    assert adversarial.make("L-BFGS", model, steps=2, search_steps=0).steps == 2


def test_bad_arguments(model):
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="untargeted"):
        minimal.DeepFool(model, target="random")
    with pytest.raises(ValueError, match="untargeted"):
        minimal.DeepFool(model)(x, y, targets=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="overshoot"):
        minimal.DeepFool(model, overshoot=-0.1)
    with pytest.raises(ValueError, match="candidates"):
        minimal.DeepFool(model, candidates=1)
    with pytest.raises(ValueError, match="steps"):
        minimal.DeepFool(model, steps=0)
    with pytest.raises(ValueError, match="c must"):
        minimal.CW(model, c=0)
    with pytest.raises(ValueError, match="kappa"):
        minimal.CW(model, kappa=-1)
    with pytest.raises(ValueError, match="lr"):
        minimal.CW(model, lr=0)
    with pytest.raises(ValueError, match="search_steps"):
        minimal.CW(model, search_steps=0)
    with pytest.raises(ValueError, match="target"):
        minimal.CW(model, target="everyone")
    with pytest.raises(ValueError, match="c must"):
        minimal.LBFGS(model, c=-1.0)
    with pytest.raises(ValueError, match="search_steps"):
        minimal.LBFGS(model, search_steps=-1)
    with pytest.raises(ValueError, match="mask"):
        minimal.CW(model, mask=torch.ones(32, 32))
    with pytest.raises(ValueError, match="labels"):
        minimal.CW(model)(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="rows"):
        minimal.DeepFool(model, mask=torch.ones(3, 1, 32, 32, dtype=torch.bool))(x, model(x).argmax(1).detach())


def test_the_docstring_examples_run():
    torch.manual_seed(0)
    result = doctest.testmod(minimal, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
