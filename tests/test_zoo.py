"""Tests of the zoo of trained networks (facedid_lib.core.zoo) and of the data splits (facedid_lib.data.splits)."""

from __future__ import annotations

import dataclasses

import pytest

from facedid_lib.core import zoo
from facedid_lib.core.registry import UnknownName


@dataclasses.dataclass(frozen=True)
class _Recipe:
    epochs: int


def _fake(calls: list, split=lambda r, seed, source: ("faces", r.epochs, seed)) -> zoo.Spec:
    def fit(recipe, splits, **kwargs):
        calls.append((recipe, splits, kwargs))
        return "trained"

    return zoo.Spec(name="fake", about="a stand-in", network=object, task=None,
                    recipes={"quick": _Recipe(1), "full": _Recipe(100)}, split=split, fit=fit, seed=3)


def test_every_network_has_a_spec_with_a_recipe_per_profile(monkeypatch):
    assert zoo.names() == ("model-a", "model-b", "autoencoder", "gender-cnn", "san", "gan", "m-svdd",
                          "m-svdd-end-to-end")
    for name in zoo.names():
        spec = zoo.spec(name)
        assert spec.name == name and spec.about and isinstance(spec.network, type)
        quick, full = spec.recipe("quick"), spec.recipe("full")
        assert type(quick) is type(full) is spec.recipe_type and quick != full
        monkeypatch.setenv("FACEDID_PROFILE", "full")
        assert zoo.recipe(name) == full
        monkeypatch.setenv("FACEDID_PROFILE", "quick")
        assert zoo.recipe(name) == quick
    assert zoo.spec("Model A") is zoo.spec("model-a") and zoo.spec("svdd") is zoo.spec("m-svdd")
    with pytest.raises(UnknownName, match="known: model-a, model-b"):
        zoo.spec("model-c")


def test_trained_hands_the_recipe_the_split_and_the_seed_to_the_fit(monkeypatch):
    calls = []
    monkeypatch.setitem(zoo.ZOO, "fake", _fake(calls))
    monkeypatch.setenv("FACEDID_PROFILE", "quick")
    assert zoo.trained("fake", progress=False, device="cpu") == "trained"
    assert zoo.trained("fake", _Recipe(7), seed=5, device="cpu", extra=1) == "trained"
    # an option may be called "name" (the m-SVDD's defence name): it is not the zoo's name
    assert zoo.trained("fake", recipe=_Recipe(7), device="cpu", name="guard") == "trained"
    (r1, s1, k1), (r2, s2, k2), (r3, _, k3) = calls
    assert r3 == _Recipe(7) and k3["name"] == "guard"
    assert r1 == _Recipe(1) and s1 == ("faces", 1, 3) and k1["seed"] == 3 and k1["progress"] is False
    assert r2 == _Recipe(7) and s2 == ("faces", 7, 5) and k2["seed"] == 5 and k2["extra"] == 1
    assert str(k1["device"]) == "cpu"


def test_override_changes_the_default_recipe_for_a_while_only(monkeypatch):
    calls = []
    monkeypatch.setitem(zoo.ZOO, "fake", _fake(calls))
    monkeypatch.setenv("FACEDID_PROFILE", "quick")
    with pytest.raises(RuntimeError, match="inside"):
        with zoo.override("fake", _Recipe(2)):
            zoo.trained("fake", device="cpu")
            zoo.trained("fake", _Recipe(9), device="cpu")  # an argument wins over the override
            raise RuntimeError("inside")
    zoo.trained("fake", device="cpu")
    assert [c[0].epochs for c in calls] == [2, 9, 1]


def test_bad_recipes_and_specs_are_refused(monkeypatch):
    from facedid_lib.nets.autoencoder import AERecipe

    with pytest.raises(TypeError, match="recipe of model-a must be a Recipe, got AERecipe"):
        zoo.trained("model-a", AERecipe(size=16, code=8, width=4, epochs=1, patience=1))
    with pytest.raises(TypeError, match="must be a GANRecipe"):
        with zoo.override("gan", _Recipe(1)):
            pass
    with pytest.raises(TypeError, match="seed must be an int"):
        monkeypatch.setitem(zoo.ZOO, "fake", _fake([]))
        zoo.trained("fake", seed=1.5)
    with pytest.raises(ValueError, match="profiles"):
        dataclasses.replace(_fake([]), recipes={"quick": _Recipe(1)})
    with pytest.raises(TypeError, match="one dataclass"):
        dataclasses.replace(_fake([]), recipes={"quick": _Recipe(1), "full": 3})
    with pytest.raises(ValueError, match="already registered"):
        zoo.register(zoo.spec("model-a"))


def test_the_chapter_split_trains_on_people_outside_the_paper_selection(data_folder):
    from facedid_lib.data import splits

    train, val, test = splits.paper_splits(16, source=data_folder)
    assert (len(train), len(val), len(test)) == (30 * 21, 30 * 5, 30 * 4)
    ch_train, ch_val, ch_test = splits.chapter_splits(16, source=data_folder)
    assert splits.splits_key(ch_test) == splits.splits_key(test)
    assert not set(ch_train.identities.tolist()) & set(train.identities.tolist())
    assert set(ch_val.identities.tolist()) <= set(ch_train.identities.tolist())
