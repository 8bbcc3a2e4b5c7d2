"""Chapter 8's comparison (evaluate.comparison): every method of the course at matched utility."""

import math
import types

import pandas as pd
import pytest
import torch

from facedid_lib import metrics, methods
from facedid_lib.attacks import adversarial
from facedid_lib.evaluate import comparison, threats
from facedid_lib.recognize.protocol import Recognizer
from tests.test_threats import PixelNearest, toy_faces


class MeanColourNet(torch.nn.Module):
    """A toy differentiable classifier: minus the distance of the mean colour to each class's."""

    def __init__(self, gallery):
        super().__init__()
        means = gallery.images.mean((2, 3))
        self.register_buffer("centres", torch.stack([means[gallery.labels == c].mean(0)
                                                     for c in range(gallery.n_classes)]))

    def forward(self, images):
        return -torch.cdist(images.mean((2, 3)), self.centres) * 20


def test_the_course_methods_are_registered_methods_or_attacks_and_searches_name_their_numeric_parameter():
    for entry in comparison.COURSE_METHODS:
        if entry.attack:
            assert entry.name in adversarial.ATTACKS, entry.name
            continue
        method = methods.get(entry.name)
        declared = {p.name: p for p in method.params}
        assert set(entry.settings) <= set(declared), entry
        if entry.search is not None:
            assert declared[entry.search].low is not None, entry
    covered = {e.chapter for e in comparison.COURSE_METHODS}
    assert covered == {2, 3, 4, 5, 6}


def test_matched_methods_land_within_the_tolerance_and_the_others_keep_their_chapter_setting():
    faces = toy_faces(per_class=3)
    entries = [comparison.Entry(2, "blur", "sigma", high=8.0),  # 32-pixel toy faces
               comparison.Entry(2, "pixelate", "block", high=16),
               comparison.Entry(2, "mask", settings={"region": "eyes"})]
    chosen = comparison.course_protections(faces, 0.6, entries=entries, progress=False)
    settings = chosen.settings
    assert list(settings["method"]) == ["blur", "pixelate", "mask"]
    # on 32-pixel faces, blocks of 1 and 2 pixels straddle SSIM 0.6: the closest is taken and said
    assert list(settings["how"]) == ["matched", "closest (integer steps)", "chapter setting"]
    assert abs(settings["SSIM searched"].iloc[0] - 0.6) <= 0.02
    assert [p.label for p in chosen.protections] == list(settings.index)
    blur = chosen.protections[0]
    measured = float(metrics.ssim(blur(faces.images, faces.labels), faces.images).mean())
    assert measured == pytest.approx(settings.loc[blur.label, "SSIM searched"], abs=1e-6)


def test_a_level_out_of_reach_is_said_and_the_method_keeps_its_chapter_setting():
    faces = toy_faces(per_class=3)
    entry = comparison.Entry(2, "blur", "sigma", high=8.0)
    chosen = comparison.course_protections(faces, 1.5, entries=[entry], progress=False)
    assert chosen.settings["how"].iloc[0].startswith("out of reach")
    assert chosen.protections[0].label == "blur" and math.isnan(chosen.settings["value"].iloc[0])


def test_compare_measures_each_protection_once_and_the_attacks_only_with_a_model():
    gallery, faces = toy_faces(seed=0), toy_faces(per_class=2, seed=1)
    toy = Recognizer(PixelNearest(gallery), "toy", n_classes=gallery.n_classes)
    net = MeanColourNet(gallery)
    model_a = types.SimpleNamespace(on_chips=lambda: net)  # what compare asks of a trained Model A
    world = threats.World(gallery=gallery, recognizers={"toy": toy, "Model A": toy}, unseen=("toy",),
                          model_a=None)
    entries = [comparison.Entry(2, "blur", "sigma", high=8.0),
               comparison.Entry(2, "mask", settings={"region": "eyes"}),
               comparison.Entry(5, "I-FGSM", settings={"alpha": 0.01, "eps": 0.1, "steps": 10}, attack=True)]
    result = comparison.compare(faces, world, levels=(0.6, 0.8), threats=["attacked", "unseen"], entries=entries,
                                progress=False)
    assert list(result.table.index.get_level_values("level").unique()) == [0.6, 0.8]
    at = result.at(0.6)
    assert [label.split(" ")[0] for label in at.index] == ["blur", "mask"]  # no model: no attack
    assert list(at["family"]) == ["classical", "classical"]
    assert result.at(0.8).index[0] != at.index[0]  # blur is matched again at 0.8
    # mask keeps its chapter setting at both levels: measured once, the same row twice
    at_08 = result.at(0.8)
    pd.testing.assert_series_equal(at.loc["mask region=eyes"], at_08.loc["mask region=eyes"], check_names=False)
    assert math.isnan(at.loc["mask region=eyes", "MR attacked"])

    world.model_a = model_a
    result = comparison.compare(faces, world, levels=(0.6,), threats=["attacked", "unseen"], entries=entries,
                                progress=False)
    attack = result.at(0.6).loc["I-FGSM on Model A"]
    assert attack["family"] == "adversarial" and attack["chapter"] == 5
    assert attack["MR attacked"] >= 0.0 and not math.isnan(attack["MR unseen"])


def test_holds_says_who_is_protected_against_whom_and_the_figure_has_one_panel_per_threat():
    from facedid_lib.viz import plotting

    table = pd.DataFrame({"SSIM": [0.5, 0.99], "MR unseen": [0.9, 0.0], "MR attacked": [float("nan"), 1.0],
                          "MR adaptive": [0.6, 0.1]}, index=["blur sigma=8", "P-FGVM on Model A"])
    holding = comparison.holds(table, ["attacked", "unseen", "adaptive"])
    assert holding.loc["blur sigma=8"].tolist()[1:] == [True, True, True]
    assert math.isnan(holding.loc["blur sigma=8", "attacked"])
    assert holding.loc["P-FGVM on Model A"].tolist() == [True, False, False, False]
    fig = plotting.privacy_utility(table, ["attacked", "unseen"], {"blur sigma=8": "classical",
                                                                   "P-FGVM on Model A": "adversarial"})
    attacked, unseen = fig.axes[:2]
    assert len(attacked.collections) == 1 and len(unseen.collections) == 2  # NaN: no point
    assert [a.get_title() for a in fig.axes[:2]] == ["attacked", "unseen"]


def test_beside_mcpherson_turns_our_misses_into_accuracies_beside_the_papers():
    table = pd.DataFrame({"MR adaptive": [0.4, 0.25], "top-5 adaptive": [0.8, 0.9]},
                         index=["blur sigma=14", "pixelate block=11"])
    both = comparison.beside_mcpherson(table, n_classes=30)
    assert both.loc["blur (YouTube)", ("top-1 %", "ours (adaptive attacker)")] == pytest.approx(60.0)
    assert both.loc["mosaic", ("top-5 %", "ours (adaptive attacker)")] == pytest.approx(90.0)
    assert both.loc["blur (YouTube)", ("top-1 %", "McPherson et al.")] == 57.0
    assert both.loc["mosaic", ("chance %", "ours (adaptive attacker)")] == pytest.approx(100 / 30)


def test_prerequisites_keeps_what_is_given_and_provides_the_rest_once(monkeypatch):
    space = object()
    assert comparison.prerequisites(comparison.entries_named("blur", "P-FGVM"), {"x": 1}) == {"x": 1}
    assert comparison.prerequisites(comparison.entries_named("eigenface"), {"space": space})["space"] is space
    asked = []

    def provide(method, progress=False, **params):
        asked.append(method.name)
        return {need: f"trained {need}" for need in method.needs}

    monkeypatch.setattr(methods, "provide", provide)
    needs = comparison.prerequisites(comparison.entries_named("ciagan", "anonymousnet", "mask"), progress=False)
    assert needs == {"gan": "trained gan"} and asked == ["ciagan"]  # one generator for both
    with pytest.raises(ValueError, match="no entries named"):
        comparison.entries_named("fawkes")
