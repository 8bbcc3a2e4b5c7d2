"""Benchmarks: ``python -m facedid_lib.bench models [--batch 32] [--repeat 3] [--device cpu]``.

``models`` measures images per second of the forward pass and of forward + backward (the
gradient with respect to the input, as an attack needs it) for Model A, the PyTorch port of
dlib's face descriptor, and dlib itself (forward only: the compiled library has no gradients),
on one batch of real face chips, all in one run so the numbers compare. Best of ``repeat``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from . import config, data


def _best_time(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, lazy initialisation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _forward_backward(model, images):
    def run():
        x = images.clone().requires_grad_(True)
        model(x).sum().backward()
    return run


def models(batch: int = 32, repeat: int = 3, device=None) -> pd.DataFrame:
    """Images per second of Model A, the dlib port and dlib, forward and forward + backward."""
    from .models.dlib_resnet import load_resnet, to_dlib_chip
    from .models.recognizers import ModelA, recipe_a
    from .models.blackbox import _recognizer
    from .models.dlib_resnet import default_path

    device = config.resolve_device(device)
    faces = data.load_faces(size=192, n_identities=batch, per_identity=1, progress=False)
    chips192 = faces.images[:batch].to(device)
    chips150 = to_dlib_chip(chips192)
    size_a = recipe_a().image_size
    model_a = ModelA(30, size_a).to(device).eval()
    images_a = torch.nn.functional.interpolate(chips192, size=(size_a, size_a), mode="bilinear", antialias=True)
    resnet = load_resnet(device=device)
    dlib_model = _recognizer(default_path())
    dlib_chips = [np.ascontiguousarray((c.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8))
                  for c in chips150]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rows = []
    for name, model, images in [("Model A", model_a, images_a), ("dlib ResNet (torch port)", resnet, chips150)]:
        with torch.no_grad():
            forward = _best_time(lambda: (model(images), sync()), repeat)
        both = _best_time(lambda: (_forward_backward(model, images)(), sync()), repeat)
        rows.append({"model": name, "forward img/s": batch / forward, "forward+backward img/s": batch / both})
    forward = _best_time(lambda: dlib_model.compute_face_descriptor(dlib_chips), repeat)
    rows.append({"model": "dlib (compiled, CPU)", "forward img/s": batch / forward,
                 "forward+backward img/s": float("nan")})
    table = pd.DataFrame(rows).set_index("model")
    table.attrs.update(batch=batch, device=str(device), threads=torch.get_num_threads())
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facedid_lib.bench", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["models"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeat < 1:
        parser.error("--batch and --repeat must be positive")
    table = models(args.batch, args.repeat, args.device)
    print(f"batch {table.attrs['batch']}, device {table.attrs['device']}, torch threads {table.attrs['threads']}")
    print(table.round(1).to_string())
    ratio = table.loc["dlib ResNet (torch port)", "forward img/s"] / table.loc["dlib (compiled, CPU)", "forward img/s"]
    print(f"torch port / dlib forward speed: {ratio:.1f}x")


if __name__ == "__main__":
    main()
