"""The course's recognizers by name, the one gallery helper, features shared between recognizers,
and the harness measuring what a table's rows share once."""

import types

import pytest
import torch

from facedid_lib import evaluate, recognize
from facedid_lib.core import ops
from facedid_lib.core.registry import UnknownName
from facedid_lib.recognize import course
from facedid_lib.recognize.protocol import Recognizer, SharedFeatures


def test_the_registry_names_the_five_recognizers_in_the_tables_order_with_their_titles_as_aliases():
    assert course.RECOGNIZERS.names() == ("model-a", "model-b", "dlib-gallery", "dlib-black-box", "sface")
    titles = [course.RECOGNIZERS[name].title for name in course.RECOGNIZERS.names()]
    assert titles == ["Model A", "Model B", "dlib gallery", "dlib black box", "SFace"]
    assert all(course.RECOGNIZERS[title] is course.RECOGNIZERS[name]
               for name, title in zip(course.RECOGNIZERS.names(), titles))
    with pytest.raises(UnknownName, match="known: model-a, model-b"):
        course.RECOGNIZERS["Model C"]


class _Head(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.linear = torch.nn.Linear(3, n)

    def forward(self, x):
        return self.linear(x.mean((2, 3)))


def _trained(n_classes=4, image_size=8):
    torch.manual_seed(0)
    return types.SimpleNamespace(model=_Head(n_classes).eval(), recipe=types.SimpleNamespace(image_size=image_size),
                                 train=types.SimpleNamespace(n_classes=n_classes))


def test_course_recognizers_builds_the_named_entries_under_their_titles():
    model_a = _trained()
    built = recognize.course_recognizers(model_a, None, None, names=["model-a"])
    assert list(built) == ["Model A"] and isinstance(built["Model A"], Recognizer)
    images = torch.rand(5, 3, 16, 16)
    assert built["Model A"].image_size == 8 and built["Model A"].n_classes == 4
    with torch.no_grad():
        assert torch.equal(built["Model A"].scores(images), model_a.model(ops.resize(images, 8)))
    with pytest.raises(ValueError, match="missing model_b"):
        recognize.course_recognizers(model_a, None, None, names=["Model B"])


def test_cached_gallery_builds_once_then_from_the_cache(faceset, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    train, _ = faceset
    calls = []

    def build(entry):
        calls.append(entry)
        return {"embeddings": train.images.mean((2, 3)) if entry is None else entry}

    first = course.cached_gallery("toy-gallery", train, ("weights.bin",), build, lambda built: built["embeddings"])
    again = course.cached_gallery("toy-gallery", train, ("weights.bin",), build, lambda built: built["embeddings"])
    assert calls[0] is None and torch.equal(calls[1], first["embeddings"]) and torch.equal(again["embeddings"],
                                                                                          first["embeddings"])
    assert len(list(tmp_path.glob("toy-gallery-*.pt"))) == 1
    course.cached_gallery("toy-gallery", train, ("other.bin",), build, lambda built: built["embeddings"])
    assert calls[2] is None and len(list(tmp_path.glob("toy-gallery-*.pt"))) == 2  # another key: embedded again


def test_model_b_and_the_dlib_gallery_compute_the_same_descriptor_bit_for_bit(faceset):
    """The premise of sharing it: Model B's own descriptor and dlib_resnet.embed agree exactly."""
    from facedid_lib.recognize import dlib_resnet
    from facedid_lib.recognize.recognizers import DescriptorHead, ModelB

    _, test = faceset
    model = ModelB(DescriptorHead(10)).eval()
    with torch.no_grad():
        assert torch.equal(model.embed(test.images[:8]), dlib_resnet.embed(test.images[:8]))
    assert course.dlib_descriptor_key(model.padding) == course.dlib_descriptor_key()


def _counting(compute, counter):
    def counted(x):
        counter.append(len(x))
        return compute(x)

    return counted


def test_shared_features_are_computed_once_per_batch_and_change_no_number():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    head_1, head_2 = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    calls = []
    features = SharedFeatures(("toy", 1), _counting(net, calls))

    def recognizers(shared):
        return {name: Recognizer(lambda x, h=head: h(net(x)), name, n_classes=3, batch_size=4,
                                 **({"features": features, "head": head} if shared else {}))
                for name, head in (("one", head_1), ("two", head_2))}

    images = torch.rand(10, 3, 12, 12)
    from facedid_lib.data.facesets import FaceSet

    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    faces = FaceSet(images, labels, labels + 100, [f"{i}.jpg" for i in range(10)])
    plain = evaluate.evaluate(evaluate.identity, faces, recognizers(False), batch_size=6, progress=False,
                              device="cpu", ranks=True)
    assert calls == []
    sharing = evaluate.evaluate(evaluate.identity, faces, recognizers(True), batch_size=6, progress=False,
                                device="cpu", ranks=True)
    assert sharing == plain
    assert calls == [4, 2, 4]  # per harness batch (6, 4), per recognizer chunk (4 + 2, 4): once, not twice
    # without a shared dict (a recognizer on its own), the features are computed by score itself
    alone = recognizers(True)["one"]
    assert torch.equal(alone.scores(images), recognizers(False)["one"].scores(images)) and calls == [4, 2, 4]


def test_shared_features_are_declared_whole():
    features = SharedFeatures(("toy",), lambda x: x)
    with pytest.raises(ValueError, match="together"):
        Recognizer(lambda x: x, features=features)
    with pytest.raises(TypeError, match="SharedFeatures"):
        Recognizer(lambda x: x, features=("toy",), head=lambda f: f)


def test_a_table_predicts_the_clean_faces_attributes_once(faceset):
    from facedid_lib.methods.classical import gaussian_blur

    _, test = faceset
    seen = []

    def brightness(images):
        seen.append(images.data_ptr())
        return (images.mean((1, 2, 3)) > 0.4).long()

    recognizers = {"colour": lambda images: images.mean((2, 3)).argmax(1)}
    swept = evaluate.sweep(gaussian_blur, "sigma", [1.0, 2.0, 4.0], test, recognizers, attributes={"bright": brightness},
                           batch_size=16, progress=False, device="cpu")
    batches = -(-len(test) // 16)
    assert len(seen) == 3 * batches + batches  # the outputs of every row, the clean faces once
    rows = [evaluate.evaluate(gaussian_blur, test, recognizers, params={"sigma": s}, attributes={"bright": brightness},
                              batch_size=16, progress=False, device="cpu") for s in (1.0, 2.0, 4.0)]
    assert swept["kept bright"].tolist() == [row["kept bright"] for row in rows]


def test_measure_uses_labels_given_for_a_recognizer_instead_of_running_it(faceset):
    _, test = faceset
    runs = []

    def colour(images):
        runs.append(len(images))
        return images.mean((2, 3)).argmax(1)

    row = evaluate.measure(test, test.images, {"colour": colour}, device="cpu")
    given = evaluate.measure(test, test.images, {"colour": colour}, device="cpu",
                             predicted={"colour": colour(test.images)})
    assert given == row and runs == [32, 8, 40]  # measure's two batches, then the labels given: not run again
    with pytest.raises(ValueError, match="not one of the recognizers"):
        evaluate.measure(test, test.images, {"colour": colour}, predicted={"other": torch.zeros(len(test))})
    with pytest.raises(ValueError, match="labels"):
        evaluate.measure(test, test.images, {"colour": colour}, predicted={"colour": torch.zeros(3)})


def test_table_measures_every_row_with_its_detectors_and_the_clean_attributes_once(faceset):
    from facedid_lib.methods.classical import gaussian_blur

    _, test = faceset
    clean_calls = []

    def brightness(images):
        clean_calls.append(bool(torch.equal(images, test.images[:len(images)])))
        return (images.mean((1, 2, 3)) > 0.4).long()

    recognizers = {"colour": lambda images: images.mean((2, 3)).argmax(1)}
    detectors = {"bright": lambda images: images.mean((1, 2, 3)) > 0.3}
    settings = {"sigma 1": (gaussian_blur, {"sigma": 1.0}), "sigma 8": (gaussian_blur, {"sigma": 8.0})}
    measured = evaluate.table(settings, test, recognizers, detectors=detectors, attributes={"bright": brightness},
                              batch_size=64, progress=False, device="cpu")
    assert clean_calls.count(True) == 1  # one batch of clean faces, for both rows
    for label, (method, params) in settings.items():
        row = evaluate.evaluate(method, test, recognizers, detectors, params=params, batch_size=64, progress=False,
                                device="cpu", attributes={"bright": brightness})
        assert measured.loc[label].to_dict() == row, label
