"""Chapter 4: the conditioned generator (models.generator), PPAS and the GAN methods (methods.gan)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from facedid_lib import evaluate, methods, metrics
from facedid_lib.core import train
from facedid_lib.viz import widgets
from facedid_lib.methods import gan as gm
from facedid_lib.nets import generator as gen
from facedid_lib import recognize

pytestmark = pytest.mark.usefixtures("one_thread")


def _template(n: int, chip: int = 64, seed: int = 0) -> np.ndarray:
    """Plausible 68-point landmarks: an oval of points in the middle of the chip, jittered."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    base = np.stack([0.5 + 0.22 * np.cos(angles), 0.55 + 0.28 * np.sin(angles)], 1) * chip
    return base[None] + rng.normal(0, chip / 100, (n, 68, 2))


def test_mask_and_landmark_map():
    points = _template(3)
    mask = gen.inner_mask(points, 32, 64, "cpu")
    assert mask.shape == (3, 1, 32, 32) and set(mask.unique().tolist()) == {0.0, 1.0}
    assert 0.15 < float(mask.mean()) < 0.5 and mask[:, :, 0].sum() == 0  # inside the chip, not the border
    dots = gen.landmark_map(points, 32, 64, "cpu")
    assert dots.shape == (3, 1, 32, 32) and float(dots.sum()) > 0
    with pytest.raises(ValueError, match="68"):
        gen.inner_mask(points[:, :5], 32, 64)
    with pytest.raises(ValueError, match="finite"):
        gen.landmark_map(np.full((1, 68, 2), np.nan), 32, 64)


def test_generator_keeps_the_surround_and_checks_its_condition():
    torch.manual_seed(0)
    G = gen.ConditionalInpainter(size=16, n_identities=5, n_attributes=4, width=4).eval()
    x = torch.rand(2, 3, 16, 16)
    mask = gen.inner_mask(_template(2, 16), 16, 16, "cpu")
    lm = gen.landmark_map(_template(2, 16), 16, 16, "cpu")
    c = gen.condition(torch.tensor([0, 3]), torch.ones(2, 4), 5)
    out = G(x, mask, lm, c)
    assert out.shape == x.shape
    assert torch.equal(out * (1 - mask), x * (1 - mask))
    # the masked pixels are not seen: changing them changes nothing
    assert torch.allclose(G(x * (1 - mask) + mask * 0.3, mask, lm, c), out, atol=1e-6)
    with pytest.raises(ValueError, match="condition"):
        G(x, mask, lm, c[:, :6])
    with pytest.raises(ValueError, match="16 x 16"):
        G(torch.rand(2, 3, 32, 32), mask, lm, c)
    with pytest.raises(ValueError, match="power of two"):
        gen.ConditionalInpainter(size=48)


def _tiny_data(n=24, k=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = _template(n, size, seed)
    return (torch.rand(n, 3, size, size, generator=g), gen.inner_mask(points, size, size, "cpu"),
            gen.landmark_map(points, size, size, "cpu"), torch.arange(n) % k,
            torch.randint(0, 2, (n, 4), generator=g).float())


def _fit_tiny(seed=0):
    torch.manual_seed(seed)
    G, D = gen.ConditionalInpainter(16, 4, 4, width=4), gen.Discriminator(16, 4, width=4)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    task = gen.AdversarialTraining(G, D, critic, _tiny_data(8, seed=1))
    history = train.fit(task, _tiny_data(), epochs=2, batch_size=8, patience=2, seed=seed, device="cpu",
                        progress=False)
    return G, task, history


def test_adversarial_training_runs_through_the_loop_and_is_seeded():
    G1, task, history = _fit_tiny()
    assert len(history.val_score) == 2 and history.score_name == "val inpainting L1"
    assert all(np.isfinite(history.train_loss)) and 0 <= task.target_rate() <= 1
    assert not any(p.requires_grad for p in task.critic.parameters())  # the critic is frozen
    G2, _, _ = _fit_tiny()
    assert all(torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G2.state_dict().values()))


def test_conditions_keep_half_and_swap_the_rest():
    G = gen.ConditionalInpainter(16, 5, 4, width=4)
    task = gen.AdversarialTraining(G, gen.Discriminator(16, 4, 4), torch.nn.Linear(1, 5), _tiny_data(4, k=5))
    identity, attributes = torch.tensor([0, 1, 2, 3, 4, 0]), torch.ones(6, 4)
    swap, target, wanted = task.conditions(identity, attributes)
    assert swap.tolist() == [False] * 3 + [True] * 3
    assert torch.equal(target[:3], identity[:3]) and bool((target[3:] != identity[3:]).all())
    assert torch.equal(wanted[:3], attributes[:3])


def test_closeness_and_ppas():
    identities = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    person = identities == 1                      # an attribute that is the person
    photo = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0]).bool()  # one that changes with every photo
    d = gm.closeness(torch.stack([person, photo], 1), identities)
    assert torch.allclose(d, torch.tensor([[0.5, 0.5], [0.0, 0.0]], dtype=torch.float64))
    true = torch.stack([person, photo], 1)
    s = gm.ppas(true, d, t=0.25, eps=0.0)
    assert s.kept[:, 0].sum() == 0 and bool(s.kept[:, 1].all())
    assert torch.equal(s.selected[:, 0], ~person) and torch.equal(s.released, s.selected)
    assert bool(gm.ppas(true, d, t=0.0, eps=0.0).kept[:, 1].all())  # d = 0 <= 0
    flipped = gm.ppas(true.repeat(100, 1), d, t=1.0, eps=0.3, seed=3)
    assert 0.25 < float((flipped.released != flipped.selected).float().mean()) < 0.35
    assert torch.equal(flipped.released, gm.ppas(true.repeat(100, 1), d, t=1.0, eps=0.3, seed=3).released)
    for bad in (dict(t=1.5, eps=0.0), dict(t=0.5, eps=-0.1)):
        with pytest.raises(ValueError):
            gm.ppas(true, d, **bad)
    with pytest.raises(ValueError, match="identities"):
        gm.closeness(true, identities[:3])


def _fake_gan(n_identities=5, size=16):
    torch.manual_seed(0)
    G = gen.ConditionalInpainter(size, n_identities, 4, width=4).eval()
    attrs = torch.randint(0, 2, (20, 4)).bool()
    return SimpleNamespace(generator=G, n_identities=n_identities, attributes=attrs,
                           identity=torch.arange(20) % n_identities)


def test_generate_pastes_inside_the_mask_at_chip_resolution():
    fake = _fake_gan()
    chips = torch.rand(2, 3, 64, 64)
    points = _template(2, 64)
    out = gm.generate(chips, fake, torch.tensor([1, 2]), torch.ones(2, 4), points)
    mask = gen.inner_mask(points, 64, 64, "cpu")
    assert out.shape == chips.shape and torch.equal(out * (1 - mask), chips * (1 - mask))
    assert float((out - chips).abs().sum()) > 0
    with pytest.raises(ValueError, match="target"):
        gm._targets(2, 5, 5, 0)


def test_the_methods_are_registered_with_their_provider():
    for name in ("ciagan", "anonymousnet"):
        spec = methods.get(name)
        assert spec.family == "gan" and spec.needs == ("gan",)
    with pytest.raises(ValueError, match="needs gan"):
        methods.get("ciagan")(torch.rand(1, 3, 32, 32))
    assert "gan" in methods.PROVIDERS


def test_ssim_weights():
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert torch.allclose(metrics.ssim(x, y, weights=torch.ones(1, 1, 32, 32)), metrics.ssim(x, y))
    z = y.clone()
    z[..., :13] = x[..., :13]  # identical on the left: the 11-pixel windows centred on columns 5-7 see no change
    w = torch.zeros(1, 1, 32, 32)
    w[..., 5:8] = 1
    assert torch.allclose(metrics.ssim(x, z, weights=w), torch.ones(2))
    for bad in (torch.ones(1, 32, 32), torch.full((1, 1, 32, 32), 2.0), torch.zeros(1, 1, 32, 32)):
        with pytest.raises(ValueError, match="weights"):
            metrics.ssim(x, y, weights=bad)


def test_retrieval_table_and_compare_columns():
    scores = torch.tensor([[3.0, 2, 1, 0], [0, 1, 2, 3]])
    rec = recognize.Recognizer(lambda images: scores[: len(images)], name="fake")
    labels = torch.tensor([1, 1])
    table = evaluate.retrieval_table({"a": torch.rand(2, 3, 8, 8)}, labels, {"fake": rec, "plain": lambda x: x}, k=2)
    assert list(table.columns) == ["top-2 fake"] and table.loc["a", "top-2 fake"] == 0.5
    assert evaluate.retrieval_table({"a": torch.rand(2, 3, 8, 8)}, labels, {"fake": rec}, k=3).iloc[0, 0] == 1.0
    with pytest.raises(ValueError, match="k must"):
        evaluate.retrieval_table({}, labels, {}, k=0)


def test_attribute_agreement_and_view_use_stage_one(monkeypatch):
    fake = _fake_gan(size=16)
    monkeypatch.setattr(gm, "predict_attributes", lambda chips, points=None: torch.zeros(len(chips), 4, dtype=torch.bool))
    monkeypatch.setattr("facedid_lib.attributes.expression.landmarks68", lambda chips: _template(len(chips), chips.shape[-1]))
    chips = torch.rand(3, 3, 32, 32)
    anonymized = gm.anonymize(chips, fake, t=1.0, eps=0.0)
    assert not anonymized.selection.released.any()
    assert gm.attribute_agreement(anonymized) == dict.fromkeys(gm.ATTRIBUTES, 1.0)
    fig = widgets.gan_view(fake, chips, torch.tensor([0, 1, 2]), lambda x: torch.tensor([0, 0, 0]), target=2, t=0.3,
                           eps=0.0, Smiling="yes")
    assert len(fig.axes) == 9 and "2 of 3 not recognised" in fig._suptitle.get_text()
    explorer = widgets.gan_explorer(fake, chips, torch.tensor([0, 1, 2]), lambda x: torch.tensor([0, 1, 2]))
    explorer.update(Male="no", t=0.0)
    with pytest.raises(ValueError, match="Smiling must be"):
        widgets.gan_view(fake, chips, torch.tensor([0, 1, 2]), lambda x: x, target=-1, t=0.3, eps=0.0, Smiling="maybe")


def test_stage_one_against_celeba_labels(data_folder):
    from facedid_lib.data import facesets as data

    faces = data.load_faces(data_folder, size=192, progress=False)
    table = gm.attribute_accuracy(faces, data_folder)
    assert list(table.index) == list(gm.ATTRIBUTES) and bool((table["n"] == 243).all())
    assert isinstance(table, pd.DataFrame) and bool((table["balanced accuracy"] > 0.6).all())


def test_gan_is_trained_once_on_other_people(monkeypatch, tmp_path, data_folder):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    tiny = gen.GANRecipe(size=16, width=4, epochs=1, critic_epochs=1)
    # stage I and the landmarks of a thousand faces take a minute: plausible stand-ins here
    monkeypatch.setattr(gen, "_described", lambda faces, seed, source, progress=False: {
        "attributes": torch.arange(len(faces))[:, None].repeat(1, 4) % 2 == 0,
        "points": torch.from_numpy(_template(len(faces), 192))})
    from facedid_lib.data import splits

    first = gen.gan(progress=False, device="cpu", recipe=tiny)
    *_, test = splits.paper_splits(16)
    assert not set(first.identities) & set(test.identities.tolist())
    assert first.n_identities == len(first.identities) and len(first.attributes) == len(first.train)
    assert len(first.history.val_score) == 1 and 0 <= first.target_rate <= 1
    monkeypatch.setattr(gen, "fit", lambda *a, **k: pytest.fail("trained again"))
    second = gen.gan(progress=False, device="cpu", recipe=tiny)
    assert all(torch.equal(a, b) for a, b in zip(first.generator.state_dict().values(),
                                                 second.generator.state_dict().values()))
