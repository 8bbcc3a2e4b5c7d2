import pytest
import torch

from facedid_lib import methods
from facedid_lib.methods import autoencoder as ae_methods
from facedid_lib.core import zoo
from facedid_lib.nets import autoencoder as ae

TINY_AE = ae.AERecipe(size=16, code=8, width=4, epochs=2, patience=2)


def test_autoencoder_shapes_and_sizes():
    torch.manual_seed(0)
    for size in (16, 64):
        model = ae.ConvAutoencoder(size=size, code=8, width=4).eval()
        x = torch.rand(2, 3, size, size)
        assert model.encode(x).shape == (2, 8)
        with torch.no_grad():
            out = model(x)
        assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    six = ae.ConvAutoencoder(size=16, code=8, width=4, in_channels=6).eval()
    assert six(torch.rand(2, 6, 16, 16)).shape == (2, 3, 16, 16)
    for bad in (8, 48):
        with pytest.raises(ValueError, match="power of two"):
            ae.ConvAutoencoder(size=bad)


def test_group_means_and_shift_targets():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    groups = torch.tensor([1, 1, 7, 7])
    assert torch.equal(ae_methods.group_means(z, groups), torch.tensor([[1.0, 0], [1, 0], [2, 4], [2, 4]]))
    ids = torch.tensor([0, 1, 2, 3])
    # a = 0 and beta = 0: the targets are the codes
    assert torch.equal(ae_methods.shift_targets(z, [groups], ids, 0.0, 0.0), z)
    # a = 1: every code becomes its group's mean, then the person's own mean (itself) is subtracted
    t = ae_methods.shift_targets(z, [groups], ids, a=1.0, beta=0.5)
    assert torch.allclose(t, 0.5 * ae_methods.group_means(z, groups))
    # the shift order matters when the groups overlap
    other = torch.tensor([0, 0, 0, 3])
    one = ae_methods.shift_targets(z, [groups, other], ids, 0.5, 0.0)
    two = ae_methods.shift_targets(z, [other, groups], ids, 0.5, 0.0)
    assert not torch.allclose(one, two)
    with pytest.raises(ValueError, match="a must lie"):
        ae_methods.shift_targets(z, [groups], ids, 1.5, 0.0)
    with pytest.raises(ValueError, match="groups must have shape"):
        ae_methods.group_means(z, groups[:3])


def test_shift_orders_and_registry():
    assert len(ae_methods.SHIFT_ORDERS) == 3 + 6
    assert ae_methods.check_order("mouth+mood+gender") == ["mouth", "mood", "gender"]
    with pytest.raises(ValueError, match="keep must be one of"):
        ae_methods.check_order("ethnicity")
    spec = methods.get("autoencoder")
    assert spec.needs == ("autoencoder",) and spec.family == "autoencoder"
    assert methods.get("attribute-preserving").needs == ("attribute_autoencoder",)
    with pytest.raises(ValueError, match="needs autoencoder="):
        spec(torch.rand(1, 3, 16, 16))


def test_reconstruct_on_chips_of_any_size():
    torch.manual_seed(0)
    model = ae.ConvAutoencoder(size=16, code=8, width=4).eval()
    chips = torch.rand(3, 3, 48, 48)
    out = methods.get("autoencoder")(chips, autoencoder=model)
    assert out.shape == chips.shape and out.dtype == chips.dtype
    model.code_mean.copy_(torch.randn(8))
    mean_face = methods.get("autoencoder")(chips, autoencoder=model, shrink=1.0)
    assert torch.allclose(mean_face[0], mean_face[1], atol=1e-6)  # everybody becomes the same face
    with pytest.raises(TypeError, match="ConvAutoencoder"):
        methods.get("autoencoder")(chips, autoencoder=torch.nn.Identity())
    with pytest.raises(ValueError, match="square"):
        methods.get("autoencoder")(torch.rand(1, 3, 16, 20), autoencoder=model)
    with pytest.raises(ValueError, match="shrink"):
        methods.get("autoencoder")(chips, autoencoder=model, shrink=2.0)


def test_attribute_preserving_checks_its_encoder():
    model = ae.ConvAutoencoder(size=16, code=8, width=4).eval()
    model.shift = (0.5, 0.5, "gender")
    spec = methods.get("attribute-preserving")
    assert spec(torch.rand(2, 3, 16, 16), attribute_autoencoder=model).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="fine-tuned with"):
        spec(torch.rand(2, 3, 16, 16), attribute_autoencoder=model, a=0.25)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """One cache for the module's tiny networks: the data set's chips are decoded once."""
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture
def tiny(monkeypatch, tiny_cache, data_folder):
    monkeypatch.setenv("FACEDID_CACHE", str(tiny_cache))
    monkeypatch.setenv("FACEDID_DATA", str(data_folder))
    # direct calls hand the tiny recipe in; the provider and the fine-tuning reach it through the zoo
    with zoo.override("autoencoder", TINY_AE):
        yield tiny_cache


def test_autoencoder_is_trained_once_on_other_people(tiny, monkeypatch):
    first = ae.autoencoder(progress=False, device="cpu", recipe=TINY_AE)
    assert not set(first.train.identities.tolist()) & set(first.test.identities.tolist())
    assert set(first.val.identities.tolist()) <= set(first.train.identities.tolist())
    assert len(first.history.val_score) == 2 and first.test_mse > 0
    assert float(first.model.code_mean.abs().sum()) > 0
    calls = []
    monkeypatch.setattr(ae, "fit", lambda *a, **k: calls.append(1))
    second = ae.autoencoder(progress=False, device="cpu", recipe=TINY_AE)
    assert calls == [] and second.test_mse == first.test_mse
    # the provider hands the same cached network to the command line and the widgets
    (made,) = methods.provide("autoencoder", device="cpu").values()
    assert torch.equal(made.code_mean, first.model.code_mean)


def test_attribute_autoencoder_fine_tunes_the_encoder_only(tiny):
    base = ae.autoencoder(progress=False, device="cpu", recipe=TINY_AE)
    model, history = ae_methods.attribute_autoencoder(0.5, 0.5, "gender+mouth+mood", progress=False, device="cpu",
                                                      epochs=2)
    assert model.shift == (0.5, 0.5, "gender+mouth+mood") and len(history.val_score) == 2
    for (name, a), b in zip(base.model.state_dict().items(), model.state_dict().values()):
        if name.startswith("decoder"):
            assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(base.model.encoder.parameters(), model.encoder.parameters()))
    again, _ = ae_methods.attribute_autoencoder(0.5, 0.5, "gender+mouth+mood", progress=False, device="cpu", epochs=2)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
