"""m-SVDD (models.svdd), the adaptive attacker (methods.adaptive) and the defence tables (evaluate)."""

import math

import pytest
import torch
import torch.nn as nn

from facedid_lib.data import facesets as data
from facedid_lib import evaluate, metrics
from facedid_lib.attacks import adaptive, adversarial
from facedid_lib.defences import svdd
from facedid_lib import recognize


def _clusters(n_classes=4, per_class=12, dim=8, seed=0, spread=4.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g) * spread
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[labels] + torch.randn(len(labels), dim, generator=g), labels


@pytest.fixture(scope="module")
def fitted():
    z, y = _clusters()
    return svdd.fit(z, y, z, y, hidden=16, out_features=4, epochs=30, progress=False), z, y


def test_fits_and_classifies(fitted):
    defence, z, y = fitted
    assert (defence.classify(z) == y).float().mean() > 0.9
    g = defence.activations(z)
    assert g.shape == (len(z), 4) and bool(((g >= 0) & (g <= 1)).all())
    # the scales put a typical training face at g = e^-1 on its own classifier
    own = g[torch.arange(len(z)), y]
    assert math.isclose(float((-own.log()).mean()), 1.0, rel_tol=1e-4)


def test_threshold_is_the_quantile_of_the_calibration(fitted):
    defence = fitted[0]
    cal = defence.calibration
    n = len(cal)
    assert defence.log_threshold(1.0) == pytest.approx(float(cal.min()))
    assert defence.threshold(1.0) == pytest.approx(math.exp(float(cal.min())))
    for a in (1.0, 0.97, 0.9, 0.5):
        T = defence.log_threshold(a)
        assert int((cal >= T).sum()) >= math.ceil(a * n)
        assert int((cal > T).sum()) < math.ceil(a * n)  # the lower quantile: the largest such T
    assert defence.threshold(0.5) >= defence.threshold(0.97) >= defence.threshold(1.0)


def test_rule_rejects_far_faces_and_counts(fitted):
    defence, z, y = fitted
    far = torch.full((3, z.shape[1]), 50.0)
    assert bool(defence.rejects(far).all())
    labels = defence.classify(torch.cat([z, far]), a=1.0)
    assert bool((labels[-3:] == metrics.REJECT).all())
    # with a = 1 no calibration face (here the training faces) is rejected; a T given directly is used
    assert not bool(defence.rejects(z, a=1.0).any())
    assert not bool(defence.rejects(z, T=1e-12).any())
    assert bool(defence.rejects(z, T=0.999).all())


def test_bad_input_names_the_argument(fitted):
    defence, z, y = fitted
    with pytest.raises(ValueError, match="columns"):
        defence.classify(torch.rand(2, z.shape[1] + 1))
    with pytest.raises(ValueError, match="T must be in"):
        defence.rejects(z, T=1.5)
    with pytest.raises(ValueError, match="T must be in"):
        defence.rejects(z, T=0.0)
    with pytest.raises(ValueError, match="a must be in"):
        defence.threshold(0.0)
    with pytest.raises(ValueError, match="a must be in"):
        defence.threshold(1.2)
    with pytest.raises(ValueError, match="a or T"):
        defence.rejects(z, a=1.0, T=0.5)
    few_z, few_y = _clusters(per_class=2)
    with pytest.raises(ValueError, match="y_train.*at least 3"):
        svdd.fit(few_z, few_y, few_z, few_y, progress=False)
    with pytest.raises(ValueError, match="z_val must have 8 columns"):
        svdd.fit(z, y, torch.rand(4, 5), y[:4], progress=False)
    with pytest.raises(ValueError, match="NaN"):
        svdd.fit(z.clone().fill_(float("nan")), y, z, y, progress=False)
    with pytest.raises(ValueError, match="fitted on features"):
        defence.network


def test_centres_fixed_and_no_bias():
    layer = svdd.MultiSVDD(3, 5, hidden=4, out_features=2)
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"w1", "w2"}  # no bias terms; centres and scales are buffers
    assert {"centres", "scales", "mean", "spread"} <= {name for name, _ in layer.named_buffers()}


def test_pure_deep_svdd_and_deep_sad_both_train():
    z, y = _clusters()
    for eta in (0.0, 1.0):
        defence = svdd.fit(z, y, z, y, hidden=16, out_features=4, epochs=5, eta=eta, progress=False)
        assert defence.history.train_loss[-1] <= defence.history.train_loss[0]
    with pytest.raises(ValueError, match="eta"):
        svdd.OneClass(svdd.MultiSVDD(4, 8), z, y, z, y, eta=-1)


class _Features(nn.Module):
    """A toy trunk: images -> 8 features (mean colour per quadrant and channel, first 8)."""

    def forward(self, images):
        pooled = nn.functional.adaptive_avg_pool2d(images, 2).flatten(1)
        return pooled[:, :8] * 10


def _toy_defence():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(4, 3, 16, 16, generator=g)
    labels = torch.arange(4).repeat_interleave(10)
    images = (base[labels] + 0.05 * torch.randn(40, 3, 16, 16, generator=g)).clamp(0, 1)
    trunk = _Features()
    z = trunk(images)
    defence = svdd.fit(z, labels, z, labels, hidden=16, out_features=4, epochs=40, trunk=trunk, progress=False,
                       name="toy + m-SVDD")
    return defence, images, labels


def test_recognizer_is_a_defended_recognizer():
    defence, images, labels = _toy_defence()
    guarded = defence.recognizer(1.0)
    assert isinstance(guarded, recognize.Defended) and guarded.rejects
    assert torch.equal(guarded(images), defence.classify(images, a=1.0))
    noise = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    assert torch.equal(guarded(noise) == metrics.REJECT, defence.rejects(noise, a=1.0))
    # the network is differentiable in the pixels (the attacks need it)
    x = images[:2].clone().requires_grad_(True)
    defence.network(x).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)


def test_clean_table_adds_up():
    defence, images, labels = _toy_defence()
    faces = data.FaceSet(images, labels, labels.clone(), [f"{i}.jpg" for i in range(len(labels))])
    table = evaluate.clean_table({"plain": recognize.classifier(defence.network), "a=0.9": defence.recognizer(0.9)},
                                 faces)
    assert (table[["accuracy", "false rejects", "errors"]].sum(axis=1) - 100).abs().max() < 1e-9
    assert table.loc["plain", "false rejects"] == 0


def test_defence_table_outcomes_add_up_and_a_reject_is_no_success():
    defence, images, labels = _toy_defence()
    faces = data.FaceSet(images[::5], labels[::5], labels[::5].clone(), [f"{i}.jpg" for i in range(8)])
    plain = nn.Sequential(_Features(), nn.Linear(8, 4))
    settings = {"I-FGSM": ("I-FGSM", dict(eps=0.1, alpha=0.02, steps=10)),
                "C&W": ("C&W", dict(steps=20, search_steps=2, lr=0.05))}
    adaptive_runs = {"adaptive C&W": ("adaptive C&W", dict(steps=30, search_steps=2, lr=0.05))}
    results = evaluate.defence_table({"toy": plain}, {"toy": defence}, settings, {"toy": faces},
                                     a_values=(1.0, 0.9), adaptive=adaptive_runs, progress=False)
    table = results.table
    assert list(table.index.get_level_values(1)) == ["I-FGSM", "C&W", "adaptive C&W"]
    for a in ("a=1", "a=0.9"):
        total = table[f"ASR {a}"] + table[f"F {a}"] + table[f"D {a}"]
        assert (total - 100).abs().max() < 1e-9
    plain_rows = table.loc[[("toy", "I-FGSM"), ("toy", "C&W")]]
    for a in ("a=1", "a=0.9"):
        total = plain_rows[f"transfer ASR {a}"] + plain_rows[f"transfer F {a}"] + plain_rows[f"transfer D {a}"]
        assert (total - 100).abs().max() < 1e-9
    lecture_like = results.as_lecture("toy", transfer=True)
    assert lecture_like.loc["I-FGSM", "def. SSIM"] == table.loc[("toy", "I-FGSM"), "SSIM"]
    assert lecture_like.loc["C&W", "D a=1"] == table.loc[("toy", "C&W"), "transfer D a=1"]
    assert "transfer ASR a=1" not in results.as_lecture("toy").columns
    assert math.isnan(table.loc[("toy", "adaptive C&W"), "SSIM"])  # the adaptive attack has no plain run
    # recount one row by hand: a rejected face is never a success
    new = results.defended["toy"]["C&W"]
    predicted = defence.recognizer(1.0)(new)
    succeeded = ((predicted != faces.labels) & (predicted != metrics.REJECT)).float().mean()
    assert table.loc[("toy", "C&W"), "ASR a=1"] == pytest.approx(100 * float(succeeded))
    # the adaptive attacker's T is the strictest one measured: its successes pass a = 0.9
    assert results.attacks["toy"]["adaptive C&W"].T == pytest.approx(defence.threshold(0.9))
    with pytest.raises(ValueError, match="same models"):
        evaluate.defence_table({"toy": plain}, {}, settings, {"toy": faces}, progress=False)


def test_adaptive_cw_success_means_accepted():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4), nn.LogSoftmax(1)).eval()
    x = torch.rand(6, 3, 8, 8)
    y = net(x).argmax(1)
    attack = adversarial.make("adaptive C&W", net, T=0.4, c=1.0, steps=60, lr=0.05, search_steps=3)
    adv = attack(x, y)
    z = net(adv)
    changed = (adv - x).flatten(1).abs().amax(1) > 0
    assert bool((z[changed].amax(1) >= math.log(0.4) + 0.01 - 1e-6).all())
    assert bool((z[changed].argmax(1) != y[changed]).all())
    logits, y1 = torch.tensor([[0.0, -1.0, -5.0]]), torch.tensor([1])
    # untargeted: max(Z_y, floor) - best other, floored at -κ
    assert float(adaptive.floored_margin(logits, y1, False, floor=-2.0, kappa=5.0)) == pytest.approx(-1.0)
    assert float(adaptive.floored_margin(logits, y1, False, floor=0.5)) == pytest.approx(0.5)  # below the floor
    # targeted (t = 1): max(best other, floor) - Z_t
    assert float(adaptive.floored_margin(logits, y1, True, floor=-2.0)) == pytest.approx(1.0)
    assert float(adaptive.floored_margin(logits, y1, True, floor=3.0)) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="T must be in"):
        adaptive.AdaptiveCW(net, T=0)
    with pytest.raises(ValueError, match="margin"):
        adaptive.AdaptiveCW(net, T=0.5, margin=-1)


def test_defence_explorer_reapplies_the_rule():
    import matplotlib.pyplot as plt

    from facedid_lib.viz import widgets

    defence, images, labels = _toy_defence()
    noise = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    explorer = widgets.defence_explorer(defence, images, labels, {"noise": noise, "none": images})
    assert explorer.figure is not None
    explorer.update(rule="T", log10_T=-0.05)  # T close to 1: nearly everything rejected
    fig = widgets.defence_view(defence, images, labels, {"noise": noise}, "noise", 1.0, "T", -0.05)
    assert fig.axes[0].patches[2].get_height() == int(defence.rejects(noise, T=10 ** -0.05).sum())
    plt.close("all")
    with pytest.raises(ValueError, match="attack must be one of"):
        widgets.defence_view(defence, images, labels, {"noise": noise}, "C&W", 1.0, "T(a)", -3.0)


def test_defence_table_runs_each_models_own_attacks_and_reuses_the_plain_models_faces():
    defence, images, labels = _toy_defence()
    faces = data.FaceSet(images[::5], labels[::5], labels[::5].clone(), [f"{i}.jpg" for i in range(8)])
    plain = nn.Sequential(_Features(), nn.Linear(8, 4))
    cw = ("C&W", dict(steps=20, search_steps=2, lr=0.05))
    fgsm = ("I-FGSM", dict(eps=0.1, alpha=0.02, steps=10))
    first = evaluate.defence_table({"toy": plain, "other": plain}, {"toy": defence, "other": defence},
                                   {"toy": {"C&W": cw, "I-FGSM": fgsm}, "other": {"C&W": cw}},
                                   {"toy": faces, "other": faces}, progress=False)
    assert list(first.table.index) == [("toy", "C&W"), ("toy", "I-FGSM"), ("other", "C&W")]
    calls = []
    real_make = adversarial.make

    def counted(name, model, **params):
        calls.append(model is plain)
        return real_make(name, model, **params)

    import facedid_lib.attacks.adversarial as module
    try:
        module.make = counted
        again = evaluate.defence_table({"toy": plain}, {"toy": defence}, {"C&W": cw}, {"toy": faces},
                                       undefended=first.undefended, progress=False)
    finally:
        module.make = real_make
    assert calls == [False]  # only the defended network was attacked again
    assert torch.equal(again.undefended["toy"]["C&W"], first.undefended["toy"]["C&W"])
    for column in ("SSIM", "ASR", "transfer ASR a=1", "transfer D a=0.97"):
        assert again.table.loc[("toy", "C&W"), column] == first.table.loc[("toy", "C&W"), column]
    with pytest.raises(ValueError, match="holds"):
        evaluate.defence_table({"toy": plain}, {"toy": defence}, {"C&W": cw}, {"toy": faces},
                               undefended={"toy": {"C&W": faces.images[:2]}}, progress=False)
    summary = evaluate.defence_summary(first, "toy")
    assert summary.startswith("- **toy + m-SVDD, attacked on the defended network** (C&W, I-FGSM)")
    assert "Transfer" in summary and f"{first.table.loc[('toy', 'C&W'), 'ASR a=1']:.1f}" in summary


def test_model_a_trunk_and_m_svdd_train_together_once_then_load(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from facedid_lib.defences import svdd_end_to_end
    from facedid_lib.recognize.recognizers import ModelA

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(3, 3, 1, 1, generator=g)

    def faces(per, seed):
        y = torch.arange(3).repeat_interleave(per)
        x = (colours[y] + 0.05 * torch.randn(len(y), 3, 16, 16, generator=torch.Generator().manual_seed(seed)))
        return data.FaceSet(x.clamp(0, 1), y, y.clone(), [f"{i}.jpg" for i in range(len(y))])

    torch.manual_seed(0)
    model = ModelA(3, image_size=8).eval()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    trained = SimpleNamespace(model=model, recipe=SimpleNamespace(image_size=8), train=faces(6, 1), val=faces(2, 2))
    recipe = svdd_end_to_end.Recipe(hidden=8, out_features=4, epochs=3, patience=3)
    fits = []
    real_fit = svdd_end_to_end.fit
    monkeypatch.setattr(svdd_end_to_end, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    defence = svdd_end_to_end.defend(trained, recipe=recipe, progress=False)
    again = svdd_end_to_end.defend(trained, recipe=recipe, progress=False)
    assert fits == [1] and len(defence.history.val_score) == len(again.history.val_score) >= 1
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())  # Model A itself untouched
    moved = [k for k, v in defence.trunk.model.state_dict().items() if not torch.equal(v, start[k])]
    assert moved  # the trunk trained
    chips = faces(2, 3).images
    assert defence.network(chips).shape == (6, 3) and torch.equal(defence.network(chips), again.network(chips))
    assert defence.log_threshold(1.0) == again.log_threshold(1.0)
    with pytest.raises(ValueError, match="eta must be a positive"):
        svdd_end_to_end.EndToEnd(defence.trunk, defence.svdd, chips, torch.zeros(6), chips, torch.zeros(6), eta=0.0)
