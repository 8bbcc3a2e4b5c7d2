"""The classical, reconstruction and k-Same methods of chapter 2."""

import math

import pytest
import torch

from facedid_lib import evaluate, methods
from facedid_lib.data.facesets import FaceSet
from facedid_lib.align import TEMPLATE5
from facedid_lib.methods import classical, ksame, reconstruction


@pytest.fixture
def images():
    return torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(0))


def test_every_registered_method_runs_with_its_defaults_and_keeps_the_shape():
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    space = reconstruction.FaceSpace.fit(torch.rand(60, 3, 32, 32, generator=torch.Generator().manual_seed(2)))
    expected = {"blur", "pixelate", "mask", "gaussian-noise", "impulse-noise", "darken", "negate", "svd",
                "eigenface", "hypersphere", "k-same-pixel", "k-same-eigen"}
    assert expected <= set(methods.REGISTRY)
    for name in expected:
        spec = methods.get(name)
        out = spec(x, **({"space": space, "n_components": 20} if spec.needs else {}))
        assert out.shape == x.shape and out.dtype == x.dtype, name
        assert 0 <= float(out.min()) and float(out.max()) <= 1, name
    with pytest.raises(ValueError, match="eigenface needs space="):
        methods.get("eigenface")(x)
    with pytest.raises(ValueError, match="block must lie in"):
        methods.get("pixelate")(x, block=0)


def test_pixelate_averages_each_block_even_the_partial_ones(images):
    x = images
    y = classical.pixelate(x, block=5)  # 24 = 4 full blocks + one of 4 pixels
    assert torch.allclose(y[..., :5, :5], x[..., :5, :5].mean((-2, -1), keepdim=True).expand(-1, -1, 5, 5))
    assert torch.allclose(y[..., 20:, 20:], x[..., 20:, 20:].mean((-2, -1), keepdim=True).expand(-1, -1, 4, 4))
    assert torch.equal(classical.pixelate(x, block=1), x)


def test_mask_covers_the_eyes_or_the_face_and_nothing_else():
    size = 96
    x = torch.full((2, 3, size, size), 0.6)
    bar = classical.mask(x, region="eyes")
    covered = bar[0, 0] == 0
    # the template's four eye corners (padding 0.4) lie under the bar, the nose tip does not
    for tx, ty in TEMPLATE5[:4]:
        assert covered[int((0.4 + ty) / 1.8 * size), int((0.4 + tx) / 1.8 * size)]
    nose = TEMPLATE5[4]
    assert not covered[int((0.4 + nose[1]) / 1.8 * size), int((0.4 + nose[0]) / 1.8 * size)]
    face = classical.mask(x, region="face")[0, 0] == 0
    assert covered.sum() < face.sum() and not face[0].any() and face[size // 2, size // 2]
    mean_fill = classical.mask(torch.rand(1, 3, size, size), region="face", fill="mean")
    region = classical.region_mask(size, "face").bool()
    assert mean_fill[0, 0][region].std() < 1e-6
    with pytest.raises(ValueError, match="square"):
        classical.mask(torch.rand(1, 3, 32, 40))


def test_noises_are_seeded_and_have_the_stated_strength():
    x = torch.full((2, 3, 64, 64), 0.5)
    a = classical.gaussian_noise(x, sigma=0.1, seed=3)
    assert torch.equal(a, classical.gaussian_noise(x, sigma=0.1, seed=3))
    assert not torch.equal(a, classical.gaussian_noise(x, sigma=0.1, seed=4))
    assert abs(float((a - x).std()) - 0.1) < 0.005
    assert torch.equal(classical.gaussian_noise(x, sigma=0.0), x)
    b = classical.impulse_noise(x, density=0.3, seed=1)
    hit = (b != 0.5).all(1)
    assert abs(float(hit.float().mean()) - 0.3) < 0.02
    assert set(b[:, :, :, :].permute(0, 2, 3, 1)[hit].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(hit, (b != 0.5).any(1))  # a hit changes all three channels together


def test_darkening_and_negation_are_invertible(images):
    x = images
    assert torch.allclose(classical.undo_darken(classical.darken(x, factor=0.2), 0.2), x, atol=1e-6)
    stored = classical.quantize(classical.darken(x, factor=0.2))  # what an 8-bit file keeps
    assert float((classical.undo_darken(stored, 0.2) - x).abs().max()) <= 0.5 / 255 / 0.2 + 1e-6
    assert torch.allclose(classical.negate(classical.negate(x)), x)


def test_svd_keeps_the_best_low_rank_approximation(images):
    x = images
    assert torch.allclose(reconstruction.svd_deidentify(x, rank=24), x, atol=1e-5)
    for rank in (1, 4):
        y = reconstruction.svd_deidentify(x * 0.5 + 0.25, rank=rank)  # no clipping: Eckart-Young exactly
        dropped = torch.linalg.svdvals(x * 0.5 + 0.25)[..., rank:].pow(2).sum(-1).sqrt()
        assert torch.allclose(torch.linalg.matrix_norm(y - (x * 0.5 + 0.25)), dropped, atol=1e-4)
        assert int((torch.linalg.svdvals(y[0, 0]) > 1e-4).sum()) <= rank
    with pytest.raises(ValueError, match="at most min"):
        reconstruction.svd_deidentify(x, rank=25)


def _low_rank_faces(n=40, rank=5, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(rank, 3 * size * size, generator=g)
    return (0.5 + 0.02 * torch.randn(n, rank, generator=g) @ basis).reshape(n, 3, size, size)


def test_face_space_is_the_pca_of_its_training_faces():
    faces = _low_rank_faces()
    space = reconstruction.FaceSpace.fit(faces)
    assert len(space) == 39 and space.shape == (3, 12, 12)
    w = space.components
    assert torch.allclose(w[:5] @ w[:5].T, torch.eye(5), atol=1e-4)
    c = space.encode(faces, 5)
    assert torch.allclose(c.std(0), space.scales[:5], rtol=1e-3)
    assert torch.allclose(space.decode(c), faces, atol=1e-4)  # rank-5 data: 5 eigenfaces suffice
    assert torch.allclose(methods.get("eigenface")(faces, space=space, n_components=5), faces, atol=1e-4)
    one = methods.get("eigenface")(faces, space=space, n_components=1)
    assert float((one - faces).abs().mean()) > 0.001
    few = reconstruction.FaceSpace.fit(faces, n_components=5)  # 5 < 40 / 4: the randomized SVD
    assert torch.allclose(few.scales, space.scales[:5], rtol=1e-3)
    assert torch.allclose(few.decode(few.encode(faces)), faces, atol=1e-4)
    with pytest.raises(ValueError, match="fitted on"):
        space.encode(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="n_components must lie in"):
        space.encode(faces, 40)
    with pytest.raises(ValueError, match="at least 2"):
        reconstruction.FaceSpace.fit(faces[:1])


def test_a_cached_face_space_is_fitted_once_and_has_the_fits_bits(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    faces = _low_rank_faces()
    fits = []
    real_fit = reconstruction.FaceSpace.fit.__func__
    monkeypatch.setattr(reconstruction.FaceSpace, "fit",
                        classmethod(lambda cls, *a, **k: fits.append(1) or real_fit(cls, *a, **k)))
    first = reconstruction.FaceSpace.cached(faces)
    again = reconstruction.FaceSpace.cached(faces.clone())
    plain = real_fit(reconstruction.FaceSpace, faces)
    assert len(fits) == 1 and len(list(tmp_path.glob("face-space-*.pt"))) == 1
    for name in ("mean", "components", "scales"):
        assert torch.equal(getattr(first, name), getattr(plain, name))
        assert torch.equal(getattr(again, name), getattr(plain, name))
    assert again.shape == plain.shape == (3, 12, 12)
    other = reconstruction.FaceSpace.cached(faces[:20])  # other faces: another entry
    assert len(fits) == 2 and len(other) == 19


def test_hypersphere_puts_every_face_at_the_same_whitened_distance():
    faces = _low_rank_faces()
    space = reconstruction.FaceSpace.fit(faces)
    for radius in (0.5, 1.0):
        out = reconstruction.hypersphere(faces, space, radius=radius, n_components=5)
        z = space.encode(out, 5) / space.scales[:5]
        assert torch.allclose(z.norm(dim=1), torch.full((40,), radius * math.sqrt(5)), rtol=1e-3)
        # the direction is kept
        z0 = space.encode(faces, 5) / space.scales[:5]
        assert torch.allclose(torch.cosine_similarity(z, z0), torch.ones(40), atol=1e-4)
    mean_face = reconstruction.hypersphere(faces, space, radius=0.0, n_components=5)
    assert torch.allclose(mean_face, space.mean.reshape(1, 3, 12, 12).expand(40, -1, -1, -1), atol=1e-6)


def test_k_same_clusters_hold_at_least_k_faces():
    features = torch.rand(23, 4, generator=torch.Generator().manual_seed(0))
    for k in (2, 3, 5, 23):
        cluster = ksame.k_same_clusters(features, k)
        sizes = torch.bincount(cluster)
        assert int(sizes.min()) >= k and int(sizes.max()) <= 2 * k - 1 and int(sizes.sum()) == 23
    # the first cluster holds face 0 and its k - 1 nearest neighbours (and maybe some of the 3 left over)
    cluster = ksame.k_same_clusters(features, 4)
    nearest = torch.cdist(features, features)[0].topk(4, largest=False).indices
    assert set(nearest.tolist()) <= set(torch.where(cluster == 0)[0].tolist())
    with pytest.raises(ValueError, match="at least k = 5"):
        ksame.k_same_clusters(features[:4], 5)


@pytest.mark.parametrize("name", ["k-same-pixel", "k-same-eigen"])
def test_k_same_bounds_any_recognizer_by_one_over_k(name):
    faces = _low_rank_faces(n=30, rank=8)
    space = reconstruction.FaceSpace.fit(_low_rank_faces(n=60, rank=8, seed=0))
    spec = methods.get(name)
    for k in (2, 3, 6):
        out = spec(faces, k=k, **({"space": space} if spec.needs else {}))
        # a strong recognizer: the nearest original face
        recognized = torch.cdist(out.flatten(1), faces.flatten(1)).argmin(1) == torch.arange(30)
        assert float(recognized.float().mean()) <= 1 / k + 1e-9
        groups = torch.unique(out.flatten(1), dim=0)
        assert len(groups) <= 30 // k


def test_evaluate_gives_a_whole_set_method_every_face_at_once():
    faces = FaceSet(_low_rank_faces(n=10), torch.arange(10), torch.arange(10), [f"{i}.jpg" for i in range(10)])
    seen = []

    def nearest(images):
        seen.append(len(images))
        return torch.cdist(images.flatten(1), faces.images.flatten(1)).argmin(1)

    row = evaluate.evaluate(methods.get("k-same-pixel"), faces, {"nearest": nearest}, params={"k": 5},
                            batch_size=3, progress=False,
                            scores={"brightness": lambda images: images.mean((1, 2, 3))})
    assert seen == [10] and row["MR nearest"] >= 1 - 1 / 5
    assert abs(row["brightness"] - 0.5) < 0.05
