"""dlib's file format reader and the PyTorch port of dlib's face descriptor, checked against dlib."""

from __future__ import annotations

import dlib
import face_recognition_models
import numpy as np
import pytest
import torch

from facedid_lib.data import facesets as data
from facedid_lib import align
from facedid_lib.weights import dlib_format
from facedid_lib.weights.dlib_format import MMOD_KINDS, read_network
from facedid_lib.recognize.dlib_resnet import RESNET_KINDS, DlibResNet, add_prev, embed, load_resnet, to_dlib_chip

RESNET_FILE = face_recognition_models.face_recognition_model_location()
MMOD_FILE = face_recognition_models.cnn_face_detector_model_location()


@pytest.fixture(scope="module")
def net():
    return DlibResNet(device="cpu")


@pytest.fixture(scope="module")
def wild(data_folder):
    """The wild photos, each with its faces aligned as 192/0.4 chips (our geometry)."""
    photos = data.wild_photos(data_folder / "wild")
    return {name: (photo, align.align_faces(photo, size=192, padding=0.4, device="cpu"))
            for name, photo in photos.items()}


@pytest.fixture(scope="module")
def dlib_chips(wild):
    """dlib's own 150 x 150 chips (HOG, 5 landmarks, get_face_chip(150, 0.25)) of the wild faces."""
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    detector = dlib.get_frontal_face_detector()
    chips = [dlib.get_face_chip(photo, predictor(photo, rect), size=150, padding=0.25)
             for photo, _ in wild.values() for rect in detector(photo, 1)]
    assert len(chips) >= 16
    return chips[:20]


def _tensor(chips) -> torch.Tensor:
    return torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float() / 255


# ------------------------------------------------------------------------------------------------
# the file format


def test_primitive_encodings():
    def reader(hex_bytes):
        return dlib_format._Reader(bytes.fromhex(hex_bytes))

    assert [reader(h).int() for h in ("0100", "0102", "0180", "020001", "028012", "8111", "811c")] == \
        [0, 2, 128, 256, 4736, -17, -28]
    assert reader("036290f58111").float() == pytest.approx(122.78199768066406, abs=1e-12)
    assert reader("0100" + "0100").float() == 0.0
    assert reader("0101" + "02007d").float() == float("inf")  # exponent 32000: +inf
    r = reader("0105" + b"con_4".hex() + "31" + "30")
    assert (r.string(), r.bool(), r.bool()) == ("con_4", True, False)
    with pytest.raises(ValueError, match="control byte"):
        reader("0900").int()
    with pytest.raises(ValueError, match="file ends"):
        reader("0201").int()
    empty = reader("0102" + "0100" * 4).tensor()
    assert empty.shape == (0, 0, 0, 0) and empty.dtype == np.float32


def test_reads_the_face_recognition_resnet():
    net = read_network(RESNET_FILE, RESNET_KINDS)
    assert net.loss == {"type": "metric", "name": "loss_metric_2",
                        "margin": pytest.approx(0.04), "distance_threshold": pytest.approx(0.6)}
    assert net.input["type"] == "rgb_image_sized" and (net.input["nr"], net.input["nc"]) == (150, 150)
    np.testing.assert_allclose(net.input["mean"], [122.782, 117.001, 104.298], atol=1e-3)
    assert len(net.layers) == len(RESNET_KINDS) == 130
    counts = {kind: net.count(kind) for kind in ("con", "affine", "relu", "add_prev", "max_pool",
                                                 "avg_pool", "fc", "tag", "skip")}
    assert counts == {"con": 29, "affine": 29, "relu": 29, "add_prev": 14, "max_pool": 1,
                      "avg_pool": 5, "fc": 1, "tag": 18, "skip": 4}
    assert net.n_params == 5_614_592
    stem, fc = net.layers[0], net.layers[-1]
    assert stem["weight"].shape == (32, 3, 7, 7) and stem["stride"] == (2, 2) and stem["version"] == 3
    assert fc["weight"].shape == (128, 256) and fc["bias"] is None and fc["weight"].dtype == np.float32
    assert net.layers[-2]["window"] == (0, 0)  # global average pooling
    # without kinds, the version ints tell computational layers (2, 3) from tags and skips (1)
    inferred = read_network(RESNET_FILE)
    assert inferred.types() == [k if k not in ("tag", "skip") else "tag_or_skip" for k in RESNET_KINDS]


def test_reads_the_mmod_detector():
    net = read_network(MMOD_FILE, MMOD_KINDS)
    assert net.loss["type"] == "mmod" and net.loss["windows"] == [(80, 80, "")]
    assert net.loss["overlaps_nms"][0] == pytest.approx(0.3382761351109955)
    assert net.input["type"] == "rgb_image_pyramid" and net.input["pyramid_padding"] == 10
    assert net.types() == ["con", "affine", "relu"] * 6 + ["con"]
    bn = net.layers[1]
    assert bn["from_bn"] and bn["eps"] == pytest.approx(1e-4) and bn["name"] == "bn_con2"
    assert 40 < bn["gamma"].min() and bn["gamma"].max() < 100  # folded: gamma / sqrt(var + eps)
    assert net.n_params == 181_141


def test_malformed_files_are_clear_errors(tmp_path):
    raw = open(RESNET_FILE, "rb").read()
    truncated = tmp_path / "truncated.dat"
    for size in (len(raw) - 1, len(raw) // 2, 40, 3):
        truncated.write_bytes(raw[:size])
        with pytest.raises(ValueError, match="malformed dlib network file"):
            read_network(truncated, RESNET_KINDS)
    longer = tmp_path / "longer.dat"
    longer.write_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match="unread bytes"):
        read_network(longer, RESNET_KINDS)
    with pytest.raises(ValueError, match="wrappers, expected"):
        read_network(MMOD_FILE, RESNET_KINDS)
    wrong = list(MMOD_KINDS)
    wrong[2] = "max_pool"
    with pytest.raises(ValueError, match="expected a 'max_pool' layer"):
        read_network(MMOD_FILE, wrong)
    with pytest.raises(ValueError, match="unknown layer kinds"):
        read_network(MMOD_FILE, ["conv"] + list(MMOD_KINDS[1:]))
    not_dlib = tmp_path / "image.dat"
    not_dlib.write_bytes(b"\x89PNG\r\n" + bytes(range(256)) * 4)
    with pytest.raises(ValueError):
        read_network(not_dlib)
    with pytest.raises(FileNotFoundError):
        read_network(tmp_path / "missing.dat")


# ------------------------------------------------------------------------------------------------
# the network


def test_port_matches_dlib(net, dlib_chips):
    reference = np.array(dlib.face_recognition_model_v1(RESNET_FILE).compute_face_descriptor(dlib_chips))
    with torch.no_grad():
        ours = net(_tensor(dlib_chips)).numpy()
    assert ours.shape == (len(dlib_chips), 128)
    assert np.abs(ours - reference).max() < 1e-4  # measured: 7e-7


def test_batch_equals_single(net, dlib_chips):
    x = _tensor(dlib_chips[:4])
    with torch.no_grad():
        batch = net(x)
        single = torch.cat([net(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=0)


def test_gradients_reach_the_pixels(wild):
    chips = next(found.chips[:1] for _, found in wild.values() if len(found))
    chips = torch.cat([chips, chips.flip(-1)]).requires_grad_()
    descriptors = embed(chips, device="cpu")
    assert descriptors.shape == (2, 128)
    (descriptors[0] - descriptors[1]).norm().backward()
    grad = chips.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the 150/0.25 chip covers the central 150/180 of ours: the border gets no gradient
    assert grad[..., :8].abs().sum() == 0 and grad[..., 40:150, 40:150].abs().sum() > 0


def test_add_prev_zero_extends_bottom_right():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 1, 4, 4), 10.0)
    out = add_prev(a, b)
    assert out.shape == (1, 2, 4, 4)
    assert out[0, 0, :3, :3].eq(11).all() and out[0, 0, 3].eq(10).all() and out[0, 1, 3].eq(0).all()
    assert out[0, 1, :3, :3].eq(1).all()


def test_bad_input_is_a_clear_error(net):
    with pytest.raises(ValueError, match="150x150"):
        net(torch.rand(1, 3, 192, 192))
    with pytest.raises(ValueError, match="RGB"):
        net(torch.rand(1, 1, 150, 150))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net(torch.rand(1, 3, 150, 150) * 255)
    with pytest.raises(ValueError, match="square"):
        to_dlib_chip(torch.rand(1, 3, 150, 120))
    with pytest.raises(ValueError, match="transforms"):
        to_dlib_chip(torch.rand(2, 3, 192, 192), transforms=np.zeros((3, 2, 3)))
    assert load_resnet(device="cpu") is load_resnet(device="cpu")


# ------------------------------------------------------------------------------------------------
# chip geometry


def test_to_dlib_chip_geometry_is_exact(wild):
    """On a photo that is a linear ramp, bilinear resampling is exact: the chip of our chip must
    equal the chip made directly from the photo (with the transforms) to float64 rounding."""
    checked = 0
    for photo, found in wild.values():
        height, width = photo.shape[:2]
        y, x = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                              torch.arange(width, dtype=torch.float64), indexing="ij")
        ramp = 0.1 + 0.8 * torch.stack([(x + y) / (width + height), y / height, x / width])
        ours = align.extract_chips(ramp, found.transforms, 192, device="cpu")
        dlib_geometry = np.array([align.chip_transform(m, 150, 0.25) for m in found.landmarks])
        direct = align.extract_chips(ramp, dlib_geometry, 150, device="cpu")
        inside = (ours.amin((1, 2, 3)) > 0) & (direct.amin((1, 2, 3)) > 0)  # chips within the photo
        exact = to_dlib_chip(ours, 0.4, found.transforms)
        limit = to_dlib_chip(ours, 0.4)
        assert exact.dtype == torch.float64
        if inside.any():
            assert (exact - direct)[inside].abs().max() < 1e-9
            assert (limit - direct)[inside].abs().max() < 1e-3  # large-face limit: < 0.2 px
            checked += int(inside.sum())
    assert checked >= 5


def test_to_dlib_chip_matches_dlibs_chip_of_the_photo(net, wild):
    """Real photos: our 192/0.4 chip mapped to 150/0.25 vs the 150/0.25 chip made directly."""
    errors, distances = [], []
    for photo, found in wild.values():
        if not len(found):
            continue
        dlib_geometry = np.array([align.chip_transform(m, 150, 0.25) for m in found.landmarks])
        direct = align.extract_chips(photo, dlib_geometry, 150, device="cpu")
        mapped = to_dlib_chip(found.chips, 0.4)
        errors.append((mapped - direct).abs().mean((1, 2, 3)))
        with torch.no_grad():
            distances.append((net(mapped) - net(direct)).norm(dim=1))
    errors, distances = torch.cat(errors), torch.cat(distances)
    # measured on 28 faces: mean abs difference 0.0033 (worst chip 0.0089; 0.0021 with the
    # transforms; two bilinear resamplings blur a little); descriptor distance 0.028 on average,
    # at most 0.06: far below dlib's 0.6
    assert len(errors) >= 16
    assert errors.mean() < 0.006 and errors.max() < 0.015
    assert distances.max() < 0.1


def test_same_person_is_closer_than_0_6(data_folder, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEDID_CACHE", str(tmp_path_factory.mktemp("cache")))
        faceset = data.load_faces(data_folder, n_identities=4, per_identity=5, size=192, progress=False)
    with torch.no_grad():
        descriptors = embed(faceset.images, device="cpu")
    distances = torch.cdist(descriptors, descriptors)
    same = faceset.labels[:, None] == faceset.labels[None, :]
    off_diagonal = ~torch.eye(len(faceset), dtype=torch.bool)
    same_close = (distances[same & off_diagonal] < 0.6).float().mean()
    different_far = (distances[~same] > 0.6).float().mean()
    # measured: 92.5% of same-person pairs within 0.6 (the worst 0.64), all others beyond 0.69
    assert same_close >= 0.85 and different_far >= 0.95, (float(same_close), float(different_far))
