import numpy as np
import pandas as pd
import pytest
import torch

from facedid_lib import evaluate
from facedid_lib.core import ops
from facedid_lib.data.facesets import FaceSet
from facedid_lib.methods.classical import gaussian_blur
from facedid_lib.viz import figures
from facedid_lib import recognize


def colour_faces():
    """Three 'identities' told apart by their mean colour, 4 faces each."""
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]])
    labels = torch.arange(3).repeat_interleave(4)
    images = (means[labels][:, :, None, None] + 0.1 * torch.rand(12, 3, 32, 32, generator=g)).clamp(0, 1)
    return FaceSet(images, labels, labels.clone(), [f"{i}.jpg" for i in range(12)])


def nearest_colour(images):
    means = torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]]) + 0.05
    return torch.cdist(images.mean((2, 3)), means).argmin(1)


def test_identity_row_is_the_clean_baseline():
    faces = colour_faces()
    row = evaluate.evaluate(evaluate.identity, faces, {"colour": nearest_colour},
                            {"always": lambda x: torch.ones(len(x), dtype=torch.bool)}, progress=False, device="cpu")
    assert row["n"] == 12 and row["SSIM"] == pytest.approx(1.0) and row["L2"] == 0 and row["MSE"] == 0
    assert row["MR colour"] == 0.0 and row["detected always"] == 1.0


def test_a_method_that_swaps_colours_fools_the_recognizer():
    faces = colour_faces()
    swap = lambda x: x[:, [2, 0, 1]]  # noqa: E731  (class 0 becomes class 1's colour, and so on)
    row = evaluate.evaluate(swap, faces, {"colour": nearest_colour}, progress=False, device="cpu", batch_size=5)
    assert row["MR colour"] == 1.0 and row["SSIM"] < 0.9 and row["L2"] > 1


def test_sweep_gives_a_row_per_value_and_blur_lowers_ssim():
    faces = colour_faces()
    table = evaluate.sweep(gaussian_blur, "sigma", [0.0, 1.0, 3.0], faces, {"colour": nearest_colour},
                           progress=False, device="cpu")
    assert isinstance(table, pd.DataFrame) and list(table.index) == [0.0, 1.0, 3.0]
    assert table["SSIM"].is_monotonic_decreasing and table["SSIM"].iloc[0] == pytest.approx(1.0)
    assert (evaluate.disagreement(table) == 0).all()  # one recognizer: no spread


def test_classifier_resizes_and_errors():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    predict = recognize.classifier(model, image_size=8)
    assert predict(torch.rand(5, 3, 32, 32)).shape == (5,)
    assert ops.resize(torch.rand(1, 3, 8, 8), 8).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="empty"):
        evaluate.evaluate(evaluate.identity, colour_faces().subset([]), {"c": nearest_colour})
    with pytest.raises(ValueError, match="recognizer"):
        evaluate.evaluate(evaluate.identity, colour_faces(), {})
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        evaluate.evaluate(lambda x: x * 3, colour_faces(), {"c": nearest_colour}, progress=False, device="cpu")


def test_perturbation_figure():
    faces = colour_faces()
    fig = figures.perturbation_figure(faces.images, gaussian_blur(faces.images, 2.0), n=4)
    assert len(fig.axes) == 12


def test_classifier_of_a_model_without_parameters_runs_where_the_images_are():
    class Colour(torch.nn.Module):
        def forward(self, x):
            return -torch.cdist(x.mean((2, 3)), torch.eye(3))

    predict = recognize.classifier(Colour())
    assert predict(torch.ones(2, 3, 4, 4) * torch.tensor([1.0, 0, 0])[:, None, None]).tolist() == [0, 0]


def test_measure_gives_the_row_of_evaluate_for_precomputed_faces():
    faces = colour_faces()
    swap = lambda x: x[:, [2, 0, 1]]  # noqa: E731
    recognizers = {"colour": nearest_colour}
    detectors = {"bright": lambda x: x.mean((1, 2, 3)) > 0.5}
    expected = evaluate.evaluate(swap, faces, recognizers, detectors, progress=False, device="cpu", batch_size=5)
    assert evaluate.measure(faces, swap(faces.images), recognizers, detectors, batch_size=7) == pytest.approx(expected)
    with pytest.raises(ValueError, match="shape"):
        evaluate.measure(faces, faces.images[:3], recognizers)
    with pytest.raises(ValueError, match="recognizer"):
        evaluate.measure(faces, faces.images, {})


def test_dlib_recognizers_cache_their_gallery(data_folder, tmp_path, monkeypatch):
    from facedid_lib.data import facesets as data
    from facedid_lib.recognize import blackbox, gallery

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    faces = data.load_faces(data_folder, n_identities=3, per_identity=2, size=160, progress=False)
    first = recognize.dlib_recognizers(faces)
    assert len(list(tmp_path.glob("dlib-gallery-*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the gallery was described again")

    monkeypatch.setattr(blackbox.DlibBlackBox, "descriptors", fail)
    monkeypatch.setattr(gallery.Gallery, "embed", fail)
    again = recognize.dlib_recognizers(faces)
    monkeypatch.undo()
    for name in ("dlib gallery", "dlib black box"):
        assert torch.equal(first[name](faces.images), again[name](faces.images)), name
        assert isinstance(first[name], recognize.Recognizer) and first[name].n_classes == 3, name
    assert torch.equal(first["dlib black box"](faces.images), faces.labels)
    # the black box's scores: minus the distance to each class's nearest photo, argmax = predict
    box = first["dlib black box"].score.__self__
    logits, distances = box.logits(faces.images), box.distances(faces.images)
    assert torch.equal(logits.argmax(1), box.predict(faces.images))
    expected = [[-distances[i, (faces.labels == c).numpy()].min() for c in range(3)] for i in range(len(faces))]
    np.testing.assert_allclose(logits.numpy(), expected)


class ColourNet(torch.nn.Module):
    """A differentiable 'recognizer' of the colour faces: logits from the mean colour."""

    def forward(self, images):
        return -torch.cdist(images.mean((2, 3)), torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]]))


def test_attack_table_measures_each_attack_on_its_model_and_every_recognizer():
    faces, net = colour_faces(), ColourNet()
    parameters = {("net", "I-FGSM"): {"alpha": 0.05, "eps": 0.6, "steps": 20},
                  ("net", "P-FGVM"): {"alpha": 3000.0, "lam": 1e-4, "steps": 40}}
    recognizers = {"net": recognize.classifier(net), "colour": nearest_colour}
    results = evaluate.attack_table({"net": net}, parameters, faces, recognizers, progress=False, device="cpu")
    table = results.table
    assert list(table.index) == list(parameters)
    assert set(table.columns) == {"L2", "SSIM", "MR", "TS", "MR net", "MR colour"}
    assert (table["MR"] == table["MR net"]).all() and (table["TS"] == 1.0).all()
    assert results.images["net", "P-FGVM"].shape == faces.images.shape
    # the same seeded random targets for both methods, never the true identity
    targets = results.attacks["net", "I-FGSM"].targets
    assert torch.equal(targets, results.attacks["net", "P-FGVM"].targets) and not (targets == faces.labels).any()
    with pytest.raises(ValueError, match="recognizers must include"):
        evaluate.attack_table({"net": net}, parameters, faces, {"colour": nearest_colour}, progress=False)
    with pytest.raises(ValueError, match="models does not hold"):
        evaluate.attack_table({}, parameters, faces, recognizers, progress=False)


def test_improvement_reproduces_the_papers_percentages():
    """Our definitions recompute Table 3's lower part from its upper part (to its rounding)."""
    from facedid_lib.data import published

    ours = evaluate.improvement(published.pfgvm_table3())
    paper = published.pfgvm_improvement()
    assert list(ours.index) == list(paper.index)
    assert (ours - paper).abs().max().max() <= 0.15, ours - paper


def test_beside_interleaves_two_tables():
    ours = pd.DataFrame({"L2": [1.0, 2.0], "MR": [0.5, 1.0], "TS": [0.1, 0.2]}, index=["a", "b"])
    theirs = pd.DataFrame({"MR": [0.9], "L2": [3.0]}, index=["b"])
    both = evaluate.beside({"ours": ours, "paper": theirs})
    assert list(both.columns) == [("L2", "ours"), ("L2", "paper"), ("MR", "ours"), ("MR", "paper")]
    assert both.loc["b", ("L2", "paper")] == 3.0 and pd.isna(both.loc["a", ("MR", "paper")])
    three = evaluate.beside({"ours": ours, "again": ours[["MR"]], "paper": theirs})
    assert three.loc["a", ("MR", "again")] == 0.5 and pd.isna(three.loc["a", ("L2", "again")])
    with pytest.raises(ValueError, match="no column"):
        evaluate.beside({"ours": ours[["TS"]], "paper": theirs})
    with pytest.raises(ValueError, match="two tables"):
        evaluate.beside({"ours": ours})


# ------------------------------------------------------------------------------------------------
# recognizers with scores, and the rank view (chapter 6)


def _old_classifier(model, image_size=None, batch_size=64):
    """recognize.classifier as it was before recognizers had scores: the labels must not change."""
    from facedid_lib.core.config import module_device

    @torch.no_grad()
    def predict(images):
        model.eval()
        device = module_device(model, images.device)
        return torch.cat([model(ops.resize(images[i:i + batch_size].to(device), image_size)).argmax(1).cpu()
                          for i in range(0, len(images), batch_size)])

    return predict


def test_recognizer_gives_the_old_labels_and_its_scores_on_colour_faces():
    faces = colour_faces()
    rec = recognize.classifier(ColourNet(), batch_size=5)
    assert isinstance(rec, recognize.Recognizer) and recognize.has_scores(rec)
    labels, scores = rec.labels_and_scores(faces.images)
    assert torch.equal(labels, _old_classifier(ColourNet(), batch_size=5)(faces.images))
    assert torch.equal(rec(faces.images), labels) and torch.equal(scores.argmax(1), labels)
    torch.testing.assert_close(rec.scores(faces.images), ColourNet()(faces.images))
    assert scores.device.type == "cpu" and labels.dtype == torch.int64 and rec.n_classes == 3
    assert repr(rec) == "Recognizer('ColourNet', n_classes=3)"
    assert not recognize.has_scores(nearest_colour)


def test_recognizer_ties_take_the_first_class_as_argmax_did():
    class Tied(torch.nn.Module):  # classes 1 and 2 always tied at the top
        def forward(self, x):
            m = x.mean((1, 2, 3))
            return torch.stack([m - 1, m, m], dim=1)

    images = torch.rand(7, 3, 8, 8)
    rec = recognize.classifier(Tied(), batch_size=3, name="tied")
    assert rec(images).tolist() == [1] * 7 == _old_classifier(Tied(), batch_size=3)(images).tolist()
    from facedid_lib import metrics

    # the true label 2, tied with the predicted 1, still has rank 1 (strictly higher scores count)
    assert metrics.true_label_rank(rec.scores(images), torch.full((7,), 2)).tolist() == [1] * 7


def test_recognizer_checks_its_scores():
    with pytest.raises(TypeError, match="callable"):
        recognize.Recognizer(None)
    with pytest.raises(ValueError, match="batch_size"):
        recognize.Recognizer(nearest_colour, batch_size=0)
    with pytest.raises(ValueError, match="float scores"):
        recognize.Recognizer(nearest_colour, "labels only")(colour_faces().images)  # labels are no scores
    with pytest.raises(ValueError, match="n_classes=4"):
        recognize.Recognizer(ColourNet(), n_classes=4)(colour_faces().images)


@pytest.fixture(scope="module")
def real_models():
    """Model A and Model B of the course's architectures, seeded (untrained: the labels only have
    to stay the same)."""
    from facedid_lib.recognize.recognizers import DescriptorHead, ModelA, ModelB

    torch.manual_seed(0)
    return ModelA(10, image_size=64).eval(), ModelB(DescriptorHead(10)).eval()


def test_recognizer_labels_equal_the_old_predict_on_real_faces(faceset, real_models):
    from facedid_lib.recognize.gallery import Gallery

    train, test = faceset
    model_a, model_b = real_models
    images = test.images[::2]  # 20 faces of 10 people
    for model, size in ((model_a, 64), (model_b, None)):
        rec = recognize.classifier(model, size, batch_size=8)
        labels, scores = rec.labels_and_scores(images)
        assert torch.equal(labels, _old_classifier(model, size, batch_size=8)(images))
        assert scores.shape == (len(images), 10) and torch.equal(scores.argmax(1), labels)
    gallery = Gallery(model_b.embed, train.images[::2], train.labels[::2], n_classes=10, progress=False)
    rec = recognize.classifier(gallery, name="gallery")
    labels, scores = rec.labels_and_scores(images)
    assert torch.equal(labels, gallery.predict(images)) and rec.n_classes == 10
    assert (scores <= 0).all() and torch.equal(labels, _old_classifier(gallery)(images))


def _box_without_dlib(gallery_descriptors, gallery_labels, queries, n_classes=None):
    """A DlibBlackBox whose descriptors are given (no dlib call), to test its logits exactly."""
    from facedid_lib.recognize.blackbox import DlibBlackBox

    box = DlibBlackBox(torch.rand(len(gallery_labels), 3, 8, 8), torch.tensor(gallery_labels), progress=False,
                       descriptors=np.asarray(gallery_descriptors, float), n_classes=n_classes)
    box.descriptors = lambda images, progress=False: np.asarray(queries, float)[:len(images)]
    return box


def test_black_box_logits_are_minus_the_nearest_photo_distance_and_agree_with_predict():
    g = np.random.default_rng(0)
    photos = g.normal(size=(9, 128))
    labels = [0, 1, 2, 0, 1, 2, 0, 1, 2]
    queries = photos[[4, 0, 8]] + 0.01 * g.normal(size=(3, 128))
    box = _box_without_dlib(photos, labels, queries, n_classes=4)  # class 3 has no photo
    logits = box.logits(torch.rand(3, 3, 8, 8))
    assert logits.dtype == torch.float64 and logits.shape == (3, 4) and torch.isinf(logits[:, 3]).all()
    distances = np.sqrt(((queries[:, None] - photos[None]) ** 2).sum(-1))
    np.testing.assert_allclose(-logits[:, 1].numpy(), distances[:, [1, 4, 7]].min(1))
    assert logits.argmax(1).tolist() == box.predict(torch.rand(3, 3, 8, 8)).tolist() == [1, 0, 2]
    # a photo of class 1 first, the same photo under class 0 second: predict takes the first photo
    twins = _box_without_dlib(np.stack([photos[0], photos[0], photos[5]]), [1, 0, 2], photos[[0]] + 0.1)
    assert twins.predict(torch.rand(1, 3, 8, 8)).tolist() == [1]
    tied = twins.logits(torch.rand(1, 3, 8, 8))
    assert tied.argmax(1).tolist() == [1] and float(tied[0, 0]) == pytest.approx(float(tied[0, 1]), abs=1e-12)
    rec = recognize.Recognizer(twins.logits, "twins", n_classes=3, batch_size=None)
    assert rec(torch.rand(1, 3, 8, 8)).tolist() == [1]


def test_rank_profile_gives_one_row_per_method():
    faces = colour_faces()
    swap = faces.images[:, [2, 0, 1]]
    rec = recognize.classifier(ColourNet())
    profile = evaluate.rank_profile({"clean": faces.images, "swapped": swap}, faces.labels, rec)
    assert list(profile.index) == ["clean", "swapped"] and list(profile.columns) == [1, 2, 3, "max P"]
    assert profile.loc["clean", 1] == 1.0 and profile.loc["clean", "max P"] == 1.0
    np.testing.assert_allclose(profile[[1, 2, 3]].sum(axis=1), 1.0)
    assert profile.loc["swapped", 1] == 0.0 and profile.loc["swapped", "max P"] == profile.loc["swapped"].max()
    short = evaluate.rank_profile({"swapped": swap}, faces.labels, rec, max_rank=2)
    assert list(short.columns) == [1, 2, "max P"] and short.loc["swapped", "max P"] == profile.loc["swapped", "max P"]
    with pytest.raises(TypeError, match="scores"):
        evaluate.rank_profile({"clean": faces.images}, faces.labels, nearest_colour)
    with pytest.raises(ValueError, match="max_rank"):
        evaluate.rank_profile({"clean": faces.images}, faces.labels, rec, max_rank=4)


def test_measure_with_ranks_adds_the_rank_columns_and_changes_nothing_else():
    from facedid_lib import metrics

    faces = colour_faces()
    swap = lambda x: x[:, [2, 0, 1]]  # noqa: E731
    recognizers = {"net": recognize.classifier(ColourNet()), "colour": nearest_colour}
    plain = evaluate.measure(faces, swap(faces.images), recognizers, batch_size=5)
    ranked = evaluate.measure(faces, swap(faces.images), recognizers, batch_size=5, ranks=True)
    assert list(ranked)[:len(plain)] == list(plain) and {k: ranked[k] for k in plain} == plain
    assert set(ranked) - set(plain) == {"P(rank 2) net", "max P(rank) net"}  # the plain function has none
    p = metrics.rank_probability(metrics.true_label_rank(ColourNet()(swap(faces.images)), faces.labels), 3)
    assert ranked["P(rank 2) net"] == pytest.approx(float(p[1])) and ranked["max P(rank) net"] == pytest.approx(
        float(p.max()))
    again = evaluate.evaluate(swap, faces, recognizers, progress=False, device="cpu", batch_size=7, ranks=True)
    assert again == pytest.approx(ranked)
    assert "P(rank 2) net" not in evaluate.evaluate(swap, faces, recognizers, progress=False, device="cpu")


def test_mygdalis_table_is_consistent_as_the_lecture_prints_it():
    """On the defended network every attack succeeded, failed or was detected, so per ``a`` the
    three columns add up to 100 % (to the table's two decimals), which a mistyped, swapped or
    shifted number breaks; and the lecture's claims hold in its own numbers: the defence lowers
    every attack's success rate, the stricter ``a = 0.97`` more so, and detects more."""
    from facedid_lib.data import published

    table = published.mygdalis_attacks()
    assert len(table) == 6 and table.index.is_unique
    for a in ("1", "0.97"):
        total = table[[f"ASR a={a}", f"F a={a}", f"D a={a}"]].sum(axis=1)
        assert ((total - 100).abs() <= 0.03).all(), total
    assert (table["ASR"] > table["ASR a=1"]).all() and (table["ASR a=1"] > table["ASR a=0.97"]).all()
    assert (table["D a=0.97"] > table["D a=1"]).all()
    assert ((table[["SSIM", "def. SSIM"]] > 0) & (table[["SSIM", "def. SSIM"]] <= 100)).all().all()


def test_a_defended_recognizer_s_rejections_are_counted_apart_not_as_misses():
    from facedid_lib import metrics

    faces = colour_faces()

    class Defended:
        """nearest_colour, rejecting every face darker than 0.4 on average."""
        rejects = True

        def __call__(self, images):
            return nearest_colour(images).masked_fill(images.mean((1, 2, 3)) < 0.4, metrics.REJECT)

    dark = faces.images * torch.tensor([1.0, 1.0, 0.0])[:, None, None]  # the blue channel gone
    defended, plain = Defended(), {"colour": nearest_colour}
    row = evaluate.measure(faces, dark, {"colour": defended}, batch_size=5)
    predicted = defended(dark)
    counts = metrics.outcomes(predicted, faces.labels)
    assert 0 < counts["detected"] < counts["n"]
    assert counts["succeeded"] + counts["failed"] + counts["detected"] == counts["n"] == len(faces)
    assert row["rejected colour"] == pytest.approx(counts["detected"] / counts["n"])
    assert row["MR colour"] == pytest.approx(counts["succeeded"] / counts["n"])
    assert "rejected colour" not in evaluate.measure(faces, dark, plain)


def test_defended_wraps_a_recognizer_keeps_its_scores_and_measure_counts_its_rejections():
    from facedid_lib import metrics

    faces = colour_faces()
    net = lambda x: -torch.cdist(x.mean((2, 3)), torch.tensor([[0.2, 0.5, 0.8], [0.8, 0.2, 0.5], [0.5, 0.8, 0.2]]))  # noqa: E731
    base = recognize.Recognizer(net, "colour")
    guarded = recognize.Defended(base, lambda x: x[:, 2].mean((1, 2)) > 0.7)  # rejects the bluest identity (0)
    labels, scores = guarded.labels_and_scores(faces.images)
    assert torch.equal(scores, base.scores(faces.images)) and guarded.n_classes == 3 and guarded.rejects
    assert (labels[:4] == metrics.REJECT).all() and torch.equal(labels[4:], faces.labels[4:])
    row = evaluate.measure(faces, faces.images, {"colour": guarded}, ranks=True)
    assert row["rejected colour"] == pytest.approx(4 / 12) and row["MR colour"] == 0.0
    assert row["P(rank 2) colour"] == 0.0  # the ranks come from the scores, rejected or not
    with pytest.raises(TypeError, match="Recognizer"):
        recognize.Defended(nearest_colour, lambda x: x)
    with pytest.raises(ValueError, match="bool"):
        recognize.Defended(base, lambda x: x.mean((1, 2, 3)))(faces.images)


def test_sweep_tables_gives_the_rows_of_sweep_and_evaluate_in_one_table():
    faces = colour_faces()
    recognizers = {"colour": nearest_colour}
    sweeps = {"blur": ("sigma", [1.0, 8.0]), "negate": None}
    swept = evaluate.sweep_tables(sweeps, faces, recognizers, device="cpu", progress=False)
    assert swept.params == {"blur": "sigma", "negate": None}
    assert swept.summary.index.tolist() == [("clean", "-"), ("blur", "1"), ("blur", "8"), ("negate", "-")]
    alone = evaluate.sweep(gaussian_blur, "sigma", [1.0, 8.0], faces, recognizers, device="cpu", progress=False)
    pd.testing.assert_frame_equal(swept.tables["blur"], alone)
    assert swept.summary.loc[("negate", "-"), "MR colour"] == 1.0  # every colour moves to another mean
    assert swept.clean["MR colour"] == 0.0
    with pytest.raises(ValueError, match="not-a-method"):
        evaluate.sweep_tables({"not-a-method": None}, faces, recognizers)
    with pytest.raises(ValueError, match="parameter, values"):
        evaluate.sweep_tables({"blur": "sigma"}, faces, recognizers)


def test_parrot_table_puts_the_parrot_gallery_beside_the_clean_one(faceset, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))  # the galleries' descriptors
    train, test = faceset
    test = test.first_per_identity(1)
    swept = evaluate.sweep_tables({"blur": ("sigma", [8.0])}, test, recognize.dlib_recognizers(train), device="cpu",
                                  progress=False)
    parrot = evaluate.parrot_table([("blur", {"sigma": 8.0})], train, test, swept, device="cpu", progress=False)
    assert parrot.index.tolist() == ["blur 8.0"]
    assert parrot.columns.tolist() == ["SSIM", "MR dlib black box, clean gallery", "MR dlib black box, parrot gallery",
                                       "MR dlib gallery, clean gallery", "MR dlib gallery, parrot gallery"]
    row = parrot.loc["blur 8.0"]
    assert row["MR dlib black box, clean gallery"] == swept.tables["blur"].loc[8.0, "MR dlib black box"]
    assert row["SSIM"] == pytest.approx(swept.tables["blur"].loc[8.0, "SSIM"])
    assert row["MR dlib black box, parrot gallery"] <= row["MR dlib black box, clean gallery"]
    with pytest.raises(ValueError, match="no row for blur"):
        evaluate.parrot_table([("blur", {"sigma": 2.0})], train, test, swept)
