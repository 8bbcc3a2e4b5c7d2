"""The adversarial attacks: update equations, torchattacks agreement, targets, early stop, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.data import facesets as data
from facedid_lib.attacks import adversarial as adv
from facedid_lib.recognize.recognizers import ModelA


@pytest.fixture(scope="module")
def faces(data_folder):
    return data.load_faces(data_folder, n_identities=4, per_identity=3, size=32, progress=False)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ModelA(4, 32).eval()


def linear_model(n_classes=4, size=8, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, n_classes)).eval()


@pytest.mark.parametrize("targeted", [False, True])
def test_ifgsm_equals_torchattacks_bim(faces, model, targeted, one_thread):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = faces.images, faces.labels
    targets = (y + 1) % 4
    bim = torchattacks.BIM(model, eps=8 / 255, alpha=2 / 255, steps=7)
    if targeted:
        bim.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 4)
    ours = adv.IFGSM(model, eps=8 / 255, alpha=2 / 255, steps=7)
    # One face per call: BIM averages the loss over the batch, we sum it per face. On a batch the
    # two gradients differ by float rounding, and a pixel whose gradient is ~1e-10 can flip sign
    # (seen on an AMD EPYC at step 2 of the targeted attack), which then moves the whole trajectory.
    # With one face, mean and sum are the same number and the update must agree bit for bit.
    theirs = torch.cat([bim(x[i:i + 1], y[i:i + 1]) for i in range(len(x))])
    mine = torch.cat([ours(x[i:i + 1], y[i:i + 1], targets=targets[i:i + 1] if targeted else None)
                      for i in range(len(x))])
    assert torch.equal(mine, theirs)
    assert (mine - x).abs().max() > 0


def test_pfgvm_follows_its_update_equation():
    model = linear_model()
    x = torch.rand(2, 3, 8, 8) * 0.5 + 0.25
    y = torch.tensor([0, 3])
    alpha, lam = 0.7, 0.3
    out = adv.PFGVM(model, alpha=alpha, lam=lam, steps=3)(x, y)
    expected = x.clone()
    for _ in range(3):
        z = expected.clone().requires_grad_(True)
        loss = -F.cross_entropy(model(z), y, reduction="sum")  # untargeted: maximise J(f(x), y)
        grad, = torch.autograd.grad(loss, z)
        expected = (expected - alpha * (grad + lam * (expected - x))).clamp(0, 1)
    assert torch.allclose(out, expected, atol=1e-6)


def test_ifgvm_uses_the_raw_gradient_inside_the_box():
    model = linear_model()
    x = torch.rand(1, 3, 8, 8) * 0.5 + 0.25
    t = torch.tensor([2])
    out = adv.IFGVM(model, alpha=0.5, eps=0.02, steps=1)(x, torch.tensor([0]), targets=t)
    z = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(z), t, reduction="sum"), z)
    assert torch.allclose(out, torch.clamp(x - 0.5 * grad, x - 0.02, x + 0.02).clamp(0, 1), atol=1e-7)


@pytest.mark.parametrize("name", ["I-FGSM", "I-FGVM", "PGD"])
def test_box_attacks_stay_in_the_eps_box(faces, model, name, one_thread):
    x = faces.images
    out = adv.make(name, model, eps=0.02, alpha=0.01 if name != "I-FGVM" else 50.0, steps=5)(x, faces.labels)
    assert (out - x).abs().max() <= 0.02 + 1e-6
    assert out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().max() > 0.005


def test_pgd_starts_at_random_in_the_box_and_is_seeded(faces, model, one_thread):
    x = faces.images[:2]
    first = adv.PGD(model, eps=0.03, alpha=0.01, steps=2, seed=1, keep=(0,))
    out = first(x, faces.labels[:2])
    start = first.snapshots[0]
    assert 0 < (start - x).abs().max() <= 0.03 + 1e-6
    again = adv.PGD(model, eps=0.03, alpha=0.01, steps=2, seed=1)(x, faces.labels[:2])
    assert torch.equal(out, again)


def test_a_face_does_not_depend_on_its_batch(faces, model, one_thread):
    attack = adv.PFGVM(model, alpha=20.0, lam=0.1, steps=4, target="least_likely")
    together = attack(faces.images[:4], faces.labels[:4])
    alone = torch.cat([attack(faces.images[i:i + 1], faces.labels[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_targets_random_least_likely_and_given(faces, model, one_thread):
    x, y = faces.images, faces.labels
    attack = adv.IFGSM(model, steps=1, target="random", seed=3)
    attack(x, y)
    random_targets = attack.targets.clone()
    assert (random_targets != y).all() and random_targets.max() < 4
    attack(x, y)
    assert torch.equal(attack.targets, random_targets)  # seeded
    attack = adv.IFGSM(model, steps=1, target="least_likely")
    attack(x, y)
    with torch.no_grad():
        assert torch.equal(attack.targets, model(x).argmin(1))
    given = torch.zeros_like(y)
    attack = adv.IFGSM(model, steps=1)
    attack(x, y, targets=given)
    assert torch.equal(attack.targets, given)


def test_history_and_snapshots(faces, model, one_thread):
    attack = adv.PFGVM(model, alpha=10.0, steps=5, keep=(0, 2, 5), start="noise", seed=0)
    out = attack(faces.images[:3], faces.labels[:3])
    assert set(attack.history) == {"loss", "success", "l2"}
    assert all(len(v) == 5 for v in attack.history.values())
    assert attack.history["l2"][0] > 1.0  # the noise start is far from the face
    assert sorted(attack.snapshots) == [0, 2, 5]
    assert torch.equal(attack.snapshots[5], out)
    assert not torch.allclose(attack.snapshots[0], faces.images[:3])


def test_untargeted_attack_fools_a_linear_model_and_early_stop_freezes_faces():
    torch.manual_seed(0)
    model = linear_model(seed=1)
    x = torch.rand(16, 3, 8, 8)
    y = model(x).argmax(1).detach()  # the model is right on every face
    full = adv.IFGSM(model, eps=0.3, alpha=0.01, steps=40)
    stopped = adv.IFGSM(model, eps=0.3, alpha=0.01, steps=40, early_stop=True)
    out_full, out_stop = full(x, y), stopped(x, y)
    with torch.no_grad():
        assert (model(out_stop).argmax(1) != y).all()
        assert (model(out_full).argmax(1) != y).all()
    l2 = lambda a: (a - x).flatten(1).norm(dim=1)  # noqa: E731
    assert (l2(out_stop) <= l2(out_full) + 1e-6).all()
    assert l2(out_stop).mean() < l2(out_full).mean()
    assert stopped.history["success"][-1] < 1.0 or len(stopped.history["success"]) < 40


def test_perturb_runs_over_a_set_in_batches(faces, model, one_thread):
    attack = adv.PFGVM(model, alpha=5.0, steps=2, target="random")
    out = attack.perturb(faces.images, faces.labels, batch_size=5, progress=False)
    assert out.shape == faces.images.shape and out.device.type == "cpu"
    assert attack.targets.shape == (len(faces),)
    whole = adv.PFGVM(model, alpha=5.0, steps=2)(faces.images, faces.labels, targets=attack.targets)
    assert torch.allclose(out, whole, atol=1e-5)


def test_bad_arguments(faces, model):
    x, y = faces.images[:2], faces.labels[:2]
    with pytest.raises(TypeError, match="nn.Module"):
        adv.IFGSM(lambda z: z)
    with pytest.raises(ValueError, match="alpha"):
        adv.IFGSM(model, alpha=0)
    with pytest.raises(ValueError, match="steps"):
        adv.PFGVM(model, steps=0)
    with pytest.raises(ValueError, match="target"):
        adv.IFGSM(model, target="everyone")
    with pytest.raises(ValueError, match="eps"):
        adv.IFGSM(model, eps=-1)
    with pytest.raises(ValueError, match="lam"):
        adv.PFGVM(model, lam=-0.1)
    with pytest.raises(ValueError, match="start"):
        adv.PFGVM(model, start="zeros")
    with pytest.raises(ValueError, match="unknown attack"):
        adv.make("FGSM++", model)
    with pytest.raises(ValueError, match="labels"):
        adv.IFGSM(model)(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="targets"):
        adv.IFGSM(model)(x, y, targets=torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adv.IFGSM(model)(x * 255, y)


def test_perturb_pools_the_history_of_its_batches(faces, model, one_thread):
    attack = adv.IFGSM(model, eps=0.05, alpha=0.01, steps=3)
    attack.perturb(faces.images, faces.labels, batch_size=12, progress=False)
    whole = attack.history
    attack.perturb(faces.images, faces.labels, batch_size=5, progress=False)
    for name in whole:
        assert attack.history[name] == pytest.approx(whole[name], abs=1e-5)
    stopped = adv._pooled([{"loss": [1.0, 0.5], "success": [0.0, 1.0], "l2": [0.0, 1.0]},
                           {"loss": [2.0], "success": [1.0], "l2": [0.0]}], [3, 1])
    assert stopped == {"loss": pytest.approx([1.25, 0.875]), "success": [0.25, 1.0], "l2": [0.0, 0.75]}


def test_hooks_loss_success_and_mask():
    """A new attack is one small class: its own loss and success; a mask keeps the other pixels clean."""

    class RaiseClassZero(adv.IFGSM):
        def loss(self, logits, images, goal):
            return -logits[:, 0]

        def success(self, logits, goal):
            return logits[:, 0] > 5

    model = linear_model()
    x = torch.rand(3, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., :4, :] = True
    attack = RaiseClassZero(model, eps=0.1, alpha=0.02, steps=10, mask=mask)
    out = attack(x, torch.zeros(3, dtype=torch.long))
    assert torch.equal(out[..., 4:, :], x[..., 4:, :])
    assert (out[..., :4, :] - x[..., :4, :]).abs().max() > 0
    assert (model(out)[:, 0] > model(x)[:, 0]).all()
    with pytest.raises(ValueError, match="mask"):
        adv.IFGSM(model, mask=torch.ones(8, 8))


@pytest.mark.parametrize("name, settings", [
    ("I-FGSM", dict(steps=2)), ("DeepFool", dict(steps=2)), ("C&W", dict(steps=2, search_steps=1)),
    ("L-BFGS", dict(steps=1, search_steps=0, bracket_steps=0)), ("k-A^3", dict(k=1, steps=2, search_steps=1))])
def test_attack_restores_the_training_mode(faces, model, name, settings):
    model.train()
    try:
        adv.make(name, model, **settings)(faces.images[:2], faces.labels[:2])
        assert model.training
    finally:
        model.eval()
    adv.make(name, model, **settings)(faces.images[:2], faces.labels[:2])
    assert not model.training
    # a wrapper built in training mode around the eval-mode model (recognizers' ``on_chips``): each keeps its own
    wrapper = nn.Sequential(model)
    adv.make(name, wrapper, **settings)(faces.images[:2], faces.labels[:2])
    assert wrapper.training and not model.training
