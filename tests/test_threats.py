"""Threat models (evaluate.threats): protections, who recognises them, the table and matched utility."""

import dataclasses
import math

import pytest
import torch

from facedid_lib import metrics
from facedid_lib.data.facesets import FaceSet
from facedid_lib.evaluate import threats
from facedid_lib.recognize.protocol import Recognizer


class PixelNearest:
    """A toy recognizer with scores: minus the distance to each class's mean 16-pixel face."""

    def __init__(self, gallery: FaceSet):
        small = torch.nn.functional.interpolate(gallery.images, size=16, mode="area").flatten(1)
        self.means = torch.stack([small[gallery.labels == c].mean(0) for c in range(gallery.n_classes)])
        self.n_classes = gallery.n_classes

    def __call__(self, images):
        small = torch.nn.functional.interpolate(images.cpu(), size=16, mode="area").flatten(1)
        return -torch.cdist(small, self.means)


def toy_faces(n_classes=4, per_class=6, seed=0) -> FaceSet:
    base = torch.rand(n_classes, 3, 1, 1, generator=torch.Generator().manual_seed(123))  # one colour per person
    g = torch.Generator().manual_seed(seed)  # the photos' noise
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    images = (base[labels] + 0.05 * torch.randn(len(labels), 3, 32, 32, generator=g)).clamp(0, 1)
    return FaceSet(images=images, labels=labels, identities=labels.clone(),
                   files=[f"{i}.jpg" for i in range(len(labels))], class_names=[str(c) for c in range(n_classes)])


@pytest.fixture
def world():
    gallery = toy_faces(seed=0)
    toy = Recognizer(PixelNearest(gallery), "toy", n_classes=gallery.n_classes)
    return threats.World(gallery=gallery, recognizers={"toy": toy, "attacked toy": toy}, unseen=("toy",))


def test_the_registry_and_each_threat_says_what_the_attacker_knows():
    assert list(threats.THREATS.names()) == ["attacked", "unseen", "parrot", "adaptive", "averaging", "defended"]
    for name in threats.THREATS.names():
        threat = threats.THREATS[name]
        assert threat.name == name and len(threat.knows) > 20


def test_a_protection_runs_its_method_batch_by_batch_and_draws_with_the_seed():
    faces = toy_faces()
    blur = threats.Protection.of_method("blur", sigma=2.0)
    assert not blur.randomised and blur.label == "blur sigma=2"
    assert torch.equal(blur(faces.images, faces.labels, batch_size=5), blur(faces.images, faces.labels, seed=3))
    noise = threats.Protection.of_method("gaussian-noise", sigma=0.2)
    assert noise.randomised
    a, b = noise(faces.images, faces.labels, seed=0), noise(faces.images, faces.labels, seed=1)
    assert not torch.equal(a, b) and torch.equal(a, noise(faces.images, faces.labels, seed=0))


def test_averaging_copies_cancels_noise_and_applies_only_to_randomised_protections():
    faces = toy_faces()
    noise = threats.Protection.of_method("gaussian-noise", sigma=0.2)
    one = noise(faces.images, faces.labels)
    averaging = threats.Averaging(copies=8)
    assert averaging.applies(noise) and not averaging.applies(threats.Protection.of_method("blur", sigma=2.0))
    seen = averaging.view(noise, faces, one)
    error_one = float(((one - faces.images) ** 2).mean())
    error_avg = float(((seen - faces.images) ** 2).mean())
    assert error_avg < error_one / 4, (error_one, error_avg)  # about 1/8 where nothing is clipped


def test_averaging_shows_the_copies_to_the_unseen_recognizers_it_names(world):
    noise = threats.Protection.of_method("gaussian-noise", sigma=0.2)
    world.unseen = ("toy", "attacked toy")
    assert list(threats.Averaging().recognizers(noise, world)) == ["toy, 8 averaged", "attacked toy, 8 averaged"]
    assert list(threats.Averaging(titles=("toy",)).recognizers(noise, world)) == ["toy, 8 averaged"]


def test_attacked_and_unseen_split_the_recognizers_by_what_the_protection_saw(world):
    built_against = dataclasses.replace(threats.Protection.of_method("blur", sigma=2.0), attacked=("attacked toy",))
    assert not threats.THREATS["attacked"].applies(threats.Protection.of_method("blur", sigma=2.0))
    assert list(threats.THREATS["attacked"].recognizers(built_against, world)) == ["attacked toy"]
    assert list(threats.THREATS["unseen"].recognizers(built_against, world)) == ["toy"]
    stranger = dataclasses.replace(built_against, attacked=("Model Z",))
    with pytest.raises(ValueError, match="Model Z"):
        threats.THREATS["attacked"].recognizers(stranger, world)


def test_the_table_gives_every_protection_its_row_under_every_threat_that_applies(world):
    faces = toy_faces(seed=1)
    protections = [threats.Protection.of_method("blur", sigma=1.0),
                   threats.Protection.of_method("negate"),
                   threats.Protection.of_method("gaussian-noise", sigma=0.3)]
    table = threats.threat_table(protections, faces, world, threats=["unseen", "averaging"], k=2, progress=False)
    assert table.index.tolist() == [p.label for p in protections]
    blur, negate, noise = (table.loc[p.label] for p in protections)
    assert blur["MR unseen"] == 0.0 and blur["top-2 unseen"] == 1.0  # a light blur hides nothing from it
    assert negate["MR unseen"] > 0.5  # the negative moves every colour away from its mean
    assert math.isnan(blur["MR averaging"]) and not math.isnan(noise["MR averaging"])
    assert noise["MR averaging"] <= noise["MR unseen"]
    assert blur["SSIM"] > noise["SSIM"] and 0 < noise["SSIM"] < 1


def test_matched_utility_lands_on_the_target_or_says_it_cannot(faceset):
    _, test = faceset
    faces = test.subset(range(8))
    param, value, ssim = threats.matched_setting("blur", 0.8, faces, low=0.5, high=16.0)
    assert param == "sigma" and abs(ssim - 0.8) <= 0.02 and 0.5 < value < 16.0
    out = threats.Protection.of_method("blur", sigma=value)(faces.images, faces.labels)
    assert float(metrics.ssim(out, faces.images).mean()) == pytest.approx(ssim)
    # an int parameter searched over integers; SVD protects more as its rank falls (the other direction)
    param, block, ssim = threats.matched_setting("pixelate", 0.6, faces, tolerance=0.05)
    assert param == "block" and isinstance(block, int) and abs(ssim - 0.6) <= 0.05
    param, rank, ssim = threats.matched_setting("svd", 0.7, faces, tolerance=0.05)
    assert param == "rank" and isinstance(rank, int) and abs(ssim - 0.7) <= 0.05
    with pytest.raises(ValueError, match="out of reach"):
        threats.matched_setting("blur", 0.2, faces, low=0.5, high=2.0)
    with pytest.raises(ValueError, match="no numeric parameter 'colour'"):
        threats.matched_setting("blur", 0.8, faces, param="colour")


def test_parrot_and_adaptive_attackers_learn_from_the_protected_gallery(faceset):
    train, test = faceset
    world = threats.World(gallery=train, recognizers={})
    pixelate = threats.Protection.of_method("pixelate", block=12)
    parrots = threats.THREATS["parrot"].recognizers(pixelate, world)
    assert sorted(parrots) == ["parrot SFace", "parrot dlib black box"]
    protected = world.protected_gallery(pixelate)
    assert world.protected_gallery(pixelate) is protected  # made once per protection
    assert list(threats.Parrot(titles=("SFace",)).recognizers(pixelate, world)) == ["parrot SFace"]
    with pytest.raises(ValueError, match="not \\['Model A'\\]"):
        threats.Parrot(titles=("Model A",)).recognizers(pixelate, world)
    adaptive = threats.Adaptive(epochs=40)
    (title, recognize), = adaptive.recognizers(pixelate, world).items()
    assert title == "adaptive SFace"
    # the head learnt the protected gallery: it names most of its own training photos
    assert float((recognize(protected.images) == protected.labels).float().mean()) >= 0.8


def test_the_adaptive_attacker_fine_tunes_model_a_on_the_protected_gallery(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from facedid_lib.recognize.recognizers import ModelA, Recipe

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    gallery = toy_faces(seed=2)
    torch.manual_seed(0)
    model_a = SimpleNamespace(model=ModelA(gallery.n_classes, image_size=16).eval(),
                              recipe=Recipe(image_size=16, epochs=1, patience=1, lr=1e-2))
    before = [t.clone() for t in model_a.model.state_dict().values()]
    world = threats.World(gallery=gallery, recognizers={}, model_a=model_a)
    negate = threats.Protection.of_method("negate")
    adaptive = threats.Adaptive(fine_tune_epochs=15)
    tuned = adaptive.fine_tuned_model_a(model_a, world.protected_gallery(negate))
    protected = world.protected_gallery(negate)
    assert float((tuned(protected.images) == protected.labels).float().mean()) == 1.0  # it learnt the negatives
    assert all(torch.equal(a, b) for a, b in zip(before, model_a.model.state_dict().values()))  # a copy was tuned
    assert len(list(tmp_path.glob("adaptive-model-a-*.pt"))) == 1  # cached by the protected images
    again = adaptive.fine_tuned_model_a(model_a, protected)
    assert torch.equal(again(protected.images), tuned(protected.images))


def test_the_defended_threat_shows_attacked_faces_to_the_defended_recognizer_and_counts_rejections(world):
    from facedid_lib.recognize.protocol import Defended

    faces = toy_faces(seed=1)
    toy = world.recognizers["attacked toy"]
    darkest = faces.images.flatten(1).mean(1).sort().values[len(faces) // 4]  # a quarter of the faces is darker
    guarded = Defended(toy, lambda images: images.flatten(1).mean(1).cpu() < darkest, name="toy + rule")
    world.defended = {"attacked toy": {"toy + rule": guarded}}
    attack_like = threats.Protection("identity on attacked toy", lambda images, labels, seed: images, ("attacked toy",))
    blur = threats.Protection.of_method("blur", sigma=1.0)
    defended = threats.THREATS["defended"]
    assert defended.applies(attack_like) and not defended.applies(blur)
    table = threats.threat_table([attack_like, blur], faces, world, ["attacked", "defended"], progress=False)
    row = table.loc["identity on attacked toy"]
    rejected = float((faces.images.flatten(1).mean(1) < darkest).float().mean())
    assert row["rejected toy + rule"] == pytest.approx(rejected) and rejected > 0
    assert row["MR toy + rule"] == pytest.approx(row["MR attacked"] + rejected)  # a rejected face is not named
    assert row["MR defended"] == row["MR toy + rule"]
    assert math.isnan(table.loc["blur sigma=1", "MR defended"])
    world.defended = {}
    again = threats.threat_table([attack_like], faces, world, ["defended"], progress=False)
    assert math.isnan(again.loc["identity on attacked toy", "MR defended"])  # no defended version: NaN
