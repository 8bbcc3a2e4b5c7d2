"""Tests of the semi-adversarial network (facedid_lib.nets.san, facedid_lib.methods.san) and of the
unseen gender CNN (facedid_lib.attributes.gender_cnn).

The trainings run on tiny recipes (16-pixel faces, one epoch, one photo per identity for the
semi-adversarial stage) in a temporary cache: they test the plumbing, not the quality.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from facedid_lib import methods
from facedid_lib.methods import san as san_method
from facedid_lib.attributes import gender_cnn
from facedid_lib.nets import san
from facedid_lib.core import zoo
from facedid_lib.core.ops import resize

TINY_SAN = san.SANRecipe(size=16, code=16, width=4, pretrain_epochs=1, epochs=1, patience=1, per_identity=1,
                         val_per_identity=1)
TINY_GENDER = gender_cnn.GenderRecipe(size=16, epochs=1, patience=1)


@pytest.fixture(scope="module")
def tiny(data_folder, tmp_path_factory):
    """Tiny recipes, a fresh cache and the data folder for the whole module; the SAN trained once.

    Direct calls hand the tiny recipe in; the method's provider reaches the SAN through the zoo, so
    the zoo's recipe of the SAN is the tiny one for the module (``zoo.override``).
    """
    cache = tmp_path_factory.mktemp("san-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEDID_CACHE", str(cache))
        patch.setenv("FACEDID_DATA", str(data_folder))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with zoo.override("san", TINY_SAN):
                yield {"cache": cache, "san": san.san(device="cpu", progress=False, recipe=TINY_SAN)}
        finally:
            torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------
# prototypes


def _faces(n=4, size=8, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_prototypes_are_the_gender_means_and_neutral_weighs_them_equally():
    faces = _faces(4)
    genders = torch.tensor([0, 0, 0, 1])
    protos = san.prototypes(faces, genders)
    assert set(protos) == {"male", "female", "neutral"}
    assert torch.allclose(protos["female"], faces[:3].mean(0))
    assert torch.allclose(protos["male"], faces[3])
    assert torch.allclose(protos["neutral"], (faces[:3].mean(0) + faces[3]) / 2)
    assert not torch.allclose(protos["neutral"], faces.mean(0))  # not the mean of all faces
    assert protos["male"].shape == (3, 8, 8)


def test_prototype_for_picks_same_opposite_and_neutral():
    protos = san.prototypes(_faces(4), torch.tensor([0, 1, 0, 1]))
    y = torch.tensor([0, 1, 1])
    same = san.prototype_for(y, "same", protos)
    opposite = san.prototype_for(y, "opposite", protos)
    neutral = san.prototype_for(y, "neutral", protos)
    assert same.shape == opposite.shape == neutral.shape == (3, 3, 8, 8)
    for i, g in enumerate(y.tolist()):
        mine, other = ("male", "female") if g else ("female", "male")
        assert torch.equal(same[i], protos[mine])
        assert torch.equal(opposite[i], protos[other])
        assert torch.equal(neutral[i], protos["neutral"])
    # P_OP(y) = P_SM(1 - y); a soft gender of 0.5 is the neutral prototype
    assert torch.equal(opposite, san.prototype_for(1 - y, "same", protos))
    assert torch.allclose(san.prototype_for(torch.tensor([0.5]), "same", protos)[0], protos["neutral"])


@pytest.mark.parametrize("call, error, message", [
    (lambda: san.prototypes(_faces(4), torch.tensor([0, 0, 0, 0])), ValueError, "both genders"),
    (lambda: san.prototypes(_faces(4), torch.tensor([0, 1, 2, 1])), ValueError, r"\[0, 1\]"),
    (lambda: san.prototypes(_faces(4), torch.tensor([0, 1, 0.5, 1])), ValueError, "0 \\(female\\) or 1"),
    (lambda: san.prototypes(_faces(4), torch.tensor([0, 1])), ValueError, r"shape \(4,\)"),
    (lambda: san.prototypes(_faces(4), [0, 1, 0, 1]), TypeError, "torch.Tensor"),
    (lambda: san.prototypes(_faces(4), torch.tensor([False, True, False, True])), TypeError, "dtype"),
    (lambda: san.prototypes(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])), ValueError, "3 \\(RGB\\)"),
    (lambda: san.prototype_for(torch.tensor([0]), "other", {}), ValueError, "kind must be one of"),
    (lambda: san.prototype_for(torch.tensor([0]), "same", {"male": torch.zeros(3, 2, 2)}), ValueError,
     "missing"),
])
def test_prototype_functions_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------------------------------
# the network


def test_san_forward_shapes_range_and_gradients(one_thread):
    torch.manual_seed(0)
    genders = torch.tensor([0, 1] * 3)
    net = san.SemiAdversarialNet(size=16, code=8, width=4).set_prototypes(_faces(6, 32), genders)
    assert net.autoencoder.in_channels == 6
    expected = san.prototypes(resize(_faces(6, 32), 16), genders)  # of the faces at the network's size
    for name in ("male", "female", "neutral"):
        assert torch.allclose(getattr(net, f"proto_{name}"), expected[name])
    net.eval()
    x, y = _faces(5, 16, 1), torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        for kind in san.PROTOTYPE_KINDS:
            out = net(x, y, kind)
            assert out.shape == (5, 3, 16, 16) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert net(_faces(5, 32, 1), y).shape == (5, 3, 16, 16)  # other sizes are resized to the network's
    assert not torch.allclose(net(x, y, "same"), net(x, y, "opposite"))  # the prototype matters
    net.train()
    net(x, y, "opposite").mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    # the prototypes are stored with the weights
    assert {"proto_male", "proto_female", "proto_neutral"} <= set(net.state_dict())


@pytest.mark.parametrize("args, error, message", [
    ((torch.rand(2, 3, 16, 16), torch.tensor([0, 1, 1])), ValueError, r"shape \(2,\)"),
    ((torch.rand(2, 3, 16, 16), torch.tensor([0, 1]), "sideways"), ValueError, "kind must be one of"),
    ((torch.rand(2, 3, 16, 8), torch.tensor([0, 1])), ValueError, "square"),
    ((torch.rand(2, 3, 16, 16) * 2, torch.tensor([0, 1])), ValueError, r"\[0, 1\]"),
    ((torch.rand(2, 1, 16, 16), torch.tensor([0, 1])), ValueError, "RGB"),
    (("faces", torch.tensor([0, 1])), TypeError, "torch.Tensor"),
])
def test_san_forward_rejects_bad_input(args, error, message):
    net = san.SemiAdversarialNet(size=16, code=8, width=4).eval()
    with pytest.raises(error, match=message):
        net(*args)


def test_san_rejects_bad_loss_weights():
    with pytest.raises(ValueError, match="w_pixel must be a finite number >= 0"):
        san.san(w_pixel=-1.0)
    with pytest.raises(ValueError, match="w_match must be a finite number"):
        san.san(w_match=float("nan"))
    with pytest.raises(ValueError, match="must not all be 0"):
        san.san(w_gender=0, w_match=0, w_pixel=0)


# ------------------------------------------------------------------------------------------------
# training and the cache


def test_training_runs_both_stages_and_is_cached(tiny, monkeypatch):
    trained = tiny["san"]
    assert isinstance(trained.model, san.SemiAdversarialNet) and not trained.model.training
    assert trained.recipe == TINY_SAN and trained.model.size == 16
    assert set(trained.histories) == {"pretrain", "semi-adversarial"}
    assert trained.histories["pretrain"].score_name == "val MSE"
    assert trained.histories["semi-adversarial"].score_name == "swap - d_OP"
    assert len(trained.val_log) == 1 and {"swap", "flip_OP", "keep_SM", "d_OP", "d_SM"} <= set(trained.val_log[0])
    assert trained.weights == {"w_gender": san.W_GENDER, "w_match": san.W_MATCH, "w_pixel": san.W_PIXEL}
    assert set(trained.seconds) == {"pretrain", "semi-adversarial"}
    # the prototypes are the gender means of every training face
    from facedid_lib.data import labels

    protos = san.prototypes(trained.train.images, labels.genders(trained.train))
    assert torch.allclose(trained.model.proto_female, protos["female"], atol=1e-6)
    names = sorted(p.name.rsplit("-", 1)[0] for p in tiny["cache"].glob("san*.pt"))
    assert names == ["san", "san-pretrain"]

    def fail(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(san, "fit", fail)
    again = san.san(device="cpu", progress=False, recipe=TINY_SAN)
    for a, b in zip(trained.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    assert again.histories["semi-adversarial"].as_dict() == trained.histories["semi-adversarial"].as_dict()


def test_other_loss_weights_train_the_second_stage_only(tiny, monkeypatch):
    calls = []
    real_fit = san.fit

    def spy(task, *args, **kwargs):
        calls.append(type(task).__name__)
        return real_fit(task, *args, **kwargs)

    monkeypatch.setattr(san, "fit", spy)
    other = san.san(device="cpu", progress=False, w_pixel=0.0, recipe=TINY_SAN)
    assert calls == ["SemiAdversarial"]  # the pre-trained autoencoder came from the cache
    assert other.weights["w_pixel"] == 0.0


def test_semi_adversarial_loss_has_all_three_terms(one_thread):
    torch.manual_seed(0)
    net = san.SemiAdversarialNet(size=16, code=8, width=4).set_prototypes(_faces(4, 16), torch.tensor([0, 1, 0, 1]))
    x, y = _faces(3, 16, 2), torch.tensor([0, 1, 0])
    target = san.descriptors(x)
    assert target.shape == (3, 128)
    task = san.SemiAdversarial(net, x, y, target, device="cpu")
    terms = task.terms(x, y, target)
    assert set(terms) == {"J_G", "J_M", "J_D"} and all(float(t.detach()) >= 0 for t in terms.values())
    loss = task.loss((x, y, target))
    expected = san.W_GENDER * terms["J_G"] + san.W_MATCH * terms["J_M"] + san.W_PIXEL * terms["J_D"]
    assert torch.allclose(loss, expected)
    loss.backward()
    assert net.autoencoder.encoder[0].weight.grad is not None


# ------------------------------------------------------------------------------------------------
# the method


def test_method_is_registered_with_its_prototype_and_provider():
    method = methods.get("san")
    assert method.family == "autoencoder" and method.needs == ("san",)
    assert method.defaults() == {"prototype": "opposite", "w_gender": san.W_GENDER, "w_match": san.W_MATCH,
                                 "w_pixel": san.W_PIXEL}
    assert method.params[0].choices == ("same", "neutral", "opposite")
    assert "san" in methods.PROVIDERS and "semi-adversarial" in methods.PROVIDERS["san"].help


def test_method_works_on_192_pixel_chips_and_validates(tiny, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the provider trained instead of loading the cache")

    monkeypatch.setattr(san, "fit", fail)
    given = methods.provide("san", device="cpu")
    model = given["san"]
    assert isinstance(model, san.SemiAdversarialNet)
    chips = torch.rand(3, 3, 192, 192, generator=torch.Generator().manual_seed(3))
    method = methods.get("san")
    for prototype in ("same", "neutral", "opposite"):
        out = method(chips, san=model, prototype=prototype)
        assert out.shape == chips.shape and out.dtype == chips.dtype
        assert 0 <= float(out.min()) and float(out.max()) <= 1
    with pytest.raises(ValueError, match="prototype must be one of"):
        method(chips, san=model, prototype="sideways")
    with pytest.raises(ValueError, match="needs san="):
        method(chips)
    with pytest.raises(TypeError, match="SemiAdversarialNet"):
        method(chips, san=torch.nn.Identity())
    with pytest.raises(ValueError, match="RGB"):
        method(chips[:, :1], san=model)
    with pytest.raises(ValueError, match="trained with"):  # a network trained with other loss weights
        method(chips, san=model, w_match=0.0)


def test_perturb_with_known_genders(tiny):
    model = tiny["san"].model
    chips = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(4))
    female, male = torch.tensor([0, 0]), torch.tensor([1, 1])
    # the opposite prototype of a woman is the same-gender prototype of a man
    assert torch.equal(san_method.perturb(model, chips, female, "opposite"),
                       san_method.perturb(model, chips, male, "same"))
    # the neutral prototype does not depend on the gender
    assert torch.equal(san_method.perturb(model, chips, female, "neutral"),
                       san_method.perturb(model, chips, male, "neutral"))
    assert san_method.perturb(model, chips, female).shape == (2, 3, 48, 48)
    # the method uses the gender network's prediction
    predicted = san_method.predicted_genders(chips)
    out = san_method.san_perturb(chips, model, "same")
    assert out.shape == chips.shape and torch.equal(out, san_method.perturb(model, chips, predicted, "same"))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        san_method.perturb(model, chips, torch.tensor([0]), "same")
    with pytest.raises(ValueError, match="prototype must be one of"):
        san_method.perturb(model, chips, female, "both")
    with pytest.raises(ValueError, match="square"):
        san_method.perturb(model, chips[..., :40], female, "same")


# ------------------------------------------------------------------------------------------------
# the unseen gender classifier


def test_gender_cnn_trains_is_cached_and_predicts(tiny, monkeypatch):
    trained = gender_cnn.gender_cnn(device="cpu", progress=False, recipe=TINY_GENDER)
    assert trained.recipe == TINY_GENDER and trained.model.image_size == 16
    assert 0.0 <= trained.test_accuracy <= 1.0 and len(trained.test) == 120
    assert len(trained.history.val_score) == 1 and trained.history.score_name == "accuracy"
    chips = torch.rand(4, 3, 192, 192)
    predicted = gender_cnn.predict(trained.model, chips)
    assert predicted.shape == (4,) and predicted.dtype == torch.int64 and set(predicted.tolist()) <= {0, 1}

    def fail(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(gender_cnn, "fit_classifier", fail)
    again = gender_cnn.gender_cnn(device="cpu", progress=False, recipe=TINY_GENDER)
    assert again.test_accuracy == trained.test_accuracy
    with pytest.raises(TypeError, match="two-class ModelA"):
        gender_cnn.predict(torch.nn.Identity(), chips)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gender_cnn.predict(trained.model, chips * 255)
    with pytest.raises(ValueError, match="square"):
        gender_cnn.predict(trained.model, chips[..., :100])


def test_recipes_follow_the_profile(monkeypatch):
    monkeypatch.setenv("FACEDID_PROFILE", "quick")
    quick = zoo.spec("san").recipe()
    assert quick.size == 64 and quick.per_identity is not None
    assert zoo.spec("gender-cnn").recipe().size == 48
    monkeypatch.setenv("FACEDID_PROFILE", "full")
    full = zoo.spec("san").recipe()
    assert zoo.spec("gender-cnn").recipe().size == 112
    assert full.size == 128 and full.per_identity is None and full.epochs > quick.epochs
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.size = 32
