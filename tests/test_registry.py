"""The one Registry (facedid_lib.core.registry) and the library's registries built on it."""

from __future__ import annotations

import sys
import textwrap

import pytest

from facedid_lib.core.registry import Registry, UnknownName


@pytest.fixture
def colours():
    reg = Registry("colour")
    reg.register("dark-red", (139, 0, 0), aliases=("Dark Red", "darkred"))
    reg.register("navy", (0, 0, 128))
    return reg


def test_duplicate_names_and_aliases_are_refused(colours):
    with pytest.raises(ValueError, match="colour named 'navy' is already registered"):
        colours.register("navy", (0, 0, 1))
    with pytest.raises(ValueError, match="alias of the colour 'dark-red'"):  # a new key that is someone's alias
        colours.register("Dark Red", (1, 0, 0))
    with pytest.raises(ValueError, match="alias 'navy' is already taken by 'navy'"):  # an alias that is a key
        colours.register("blue", (0, 0, 255), aliases=("navy",))
    with pytest.raises(ValueError, match="alias 'darkred' is already taken by 'dark-red'"):
        colours.register("red", (255, 0, 0), aliases=("darkred",))
    with pytest.raises(ValueError, match="already registered"):  # the decorator refuses at once, not when applied
        colours.register("navy")
    with pytest.raises(TypeError, match="tuple of names"):  # a string would be read letter by letter
        colours.register("red", (255, 0, 0), aliases="Red")
    with pytest.raises(TypeError, match="non-empty string"):
        colours.register("", (0, 0, 0))
    assert colours.names() == ("dark-red", "navy") and colours["navy"] == (0, 0, 128)  # nothing half-added
    assert "red" not in colours and "blue" not in colours


def test_aliases_resolve_to_the_key(colours):
    assert colours["Dark Red"] is colours["darkred"] is colours["dark-red"]
    assert colours.canonical("Dark Red") == "dark-red" and colours.aliases("darkred") == ("Dark Red", "darkred")
    assert "Dark Red" in colours and colours.get("Dark Red") == (139, 0, 0)
    # iteration, len and items see the keys only, in order of registration
    assert list(colours) == ["dark-red", "navy"] and len(colours) == 2
    assert dict(colours.items()) == {"dark-red": (139, 0, 0), "navy": (0, 0, 128)}

    @colours.register("teal", aliases=("Teal",))
    def teal():
        return (0, 128, 128)

    assert colours["Teal"] is teal and colours.names()[-1] == "teal"


def test_unknown_name_lists_the_known_names(colours):
    with pytest.raises(UnknownName) as caught:
        colours["blue"]
    assert str(caught.value) == "unknown colour 'blue'; known: dark-red, navy"
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match=r"unknown colour 'NAVY'; known: dark-red, navy \(did you mean 'navy'\?\)"):
        colours["NAVY"]
    with pytest.raises(KeyError, match="did you mean 'dark-red'"):  # a key before an alias
        colours.canonical("dark_red")
    with pytest.raises(UnknownName, match="unknown colour 3"):
        colours[3]
    assert colours.get("blue") is None and 3 not in colours


def test_lazy_entry_is_imported_by_its_path_when_asked_for(tmp_path, monkeypatch):
    (tmp_path / "facedid_test_reg_home.py").write_text(textwrap.dedent("""
        from facedid_lib.core.registry import Registry
        THINGS = Registry("thing")
        THINGS.register("early", 1)
        THINGS.lazy("late", "facedid_test_reg_late", aliases=("Late",))
        THINGS.lazy("silent", "facedid_test_reg_silent")
        THINGS.register("after", 3)
    """))
    (tmp_path / "facedid_test_reg_late.py").write_text(textwrap.dedent("""
        from facedid_test_reg_home import THINGS
        THINGS.register("late", 2, aliases=("Late",))
    """))
    (tmp_path / "facedid_test_reg_silent.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = ("facedid_test_reg_home", "facedid_test_reg_late", "facedid_test_reg_silent")
    try:
        from facedid_test_reg_home import THINGS

        assert THINGS.names() == ("early", "late", "silent", "after")  # listed, not imported
        assert "Late" in THINGS and "facedid_test_reg_late" not in sys.modules
        assert THINGS["Late"] == 2 and "facedid_test_reg_late" in sys.modules
        assert THINGS.names() == ("early", "late", "silent", "after")  # the import kept its place
        with pytest.raises(RuntimeError, match="facedid_test_reg_silent did not register the thing 'silent'"):
            THINGS["silent"]
        with pytest.raises(ValueError, match="already registered"):
            THINGS.lazy("early", "elsewhere")
        with pytest.raises(ValueError, match="already registered"):
            THINGS.register("late", 4)
    finally:
        for name in modules:
            sys.modules.pop(name, None)


def test_setitem_and_delitem_round_trip(colours, monkeypatch):
    original = colours["navy"]
    with monkeypatch.context() as patch:
        patch.setitem(colours, "navy", "replaced")  # a test's stand-in, without the duplicate check
        patch.setitem(colours, "tint", "added")
        patch.setitem(colours, "Dark Red", "through the alias")
        assert colours["navy"] == "replaced" and colours["tint"] == "added"
        assert colours["dark-red"] == "through the alias" and colours.names() == ("dark-red", "navy", "tint")
    assert colours["navy"] is original and "tint" not in colours and colours.names() == ("dark-red", "navy")
    assert colours["Dark Red"] == (139, 0, 0)
    del colours["darkred"]  # by an alias: the key and all its aliases go
    assert colours.names() == ("navy",) and "Dark Red" not in colours and "darkred" not in colours
    colours.register("dark-red", (1, 0, 0), aliases=("Dark Red",))  # the names are free again
    assert colours["Dark Red"] == (1, 0, 0)
    with pytest.raises(UnknownName):
        del colours["blue"]


# --- the library's registries ----------------------------------------------------------------------
def test_attacks_are_registered_by_key_with_their_titles_as_aliases():
    from facedid_lib.attacks import adversarial

    titles = {"i-fgsm": "I-FGSM", "i-fgvm": "I-FGVM", "p-fgvm": "P-FGVM", "pgd": "PGD", "deepfool": "DeepFool",
              "cw": "C&W", "l-bfgs": "L-BFGS", "k-a3": "k-A^3", "adaptive-cw": "adaptive C&W"}
    assert isinstance(adversarial.ATTACKS, Registry) and set(adversarial.ATTACKS) == set(titles)
    for key, title in titles.items():
        cls = adversarial.ATTACKS[key]
        assert (cls.key, cls.name) == (key, title) and adversarial.ATTACKS[title] is cls
    with pytest.raises(ValueError, match="unknown attack 'FGSM'; known: i-fgsm"):
        adversarial.make("FGSM", None)
    with pytest.raises(TypeError, match="must set its own key"):  # a subclass that forgot its key

        @adversarial.register
        class Louder(adversarial.ATTACKS["i-fgsm"]):
            name = "louder"


def test_methods_and_providers_are_registries():
    from facedid_lib import methods

    assert isinstance(methods.REGISTRY, Registry) and isinstance(methods.PROVIDERS, Registry)
    assert methods.get("k-same-pixel") is methods.REGISTRY["k-same-pixel"]
    assert all(name == name.lower() and " " not in name and "_" not in name for name in methods.REGISTRY)
    assert {need for m in methods.REGISTRY.values() for need in m.needs} <= set(methods.PROVIDERS)
    with pytest.raises(ValueError, match="a method named 'blur' is already registered"):
        methods.register("blur", "classical")
    with pytest.raises(ValueError, match="provider named 'space' is already registered"):
        methods.provider("space", "again")(lambda *args: None)
    with pytest.raises(ValueError, match="no provider of"):
        methods.register("needs-a-dream", "test", needs=("dream",))
    with pytest.raises(ValueError, match="keyword argument"):
        methods.provider("face-space", "not a keyword")
    assert "needs-a-dream" not in methods.REGISTRY


def test_a_method_and_its_aliases_are_sub_commands():
    from facedid_lib import cli, methods
    from facedid_lib.core.params import Param

    @methods.register("test-brighten", "test", Param("gain", 1.5, "brightness factor", low=1.0, high=3.0),
                      aliases=("Test Brighten",))
    def brighten(images, gain=1.5):
        """Brighten: a test method."""
        return (images * gain).clamp(0, 1)

    try:
        parser = cli.build_parser()
        for typed in ("test-brighten", "Test Brighten"):
            args = parser.parse_args([typed, "--gain", "2", "photo.jpg", "-o", "out"])
            assert methods.get(args.method).name == "test-brighten" and args.gain == 2.0
    finally:
        del methods.REGISTRY["test-brighten"]
    assert "Test Brighten" not in methods.REGISTRY
