"""Input-pipeline throughput vs training throughput of the small spiking CNN, measured in one run.

    python benchmarks/data_throughput.py [--data-dir DIR] [--subset 5000] [--batches 40] [--train-steps 6]

Reads CIFAR-10 JPEGs as an ImageFolder: ``--data-dir``, else the team's archive extracted by
``scripts/shared_cifar10.py``. Measures, in images/s:

* cold decode: first-time decoding of the JPEG subset into memory (thread pool, Pillow), no cache;
* warm load: the same bundle read back from the .npy cache;
* in-memory pipeline: DeviceLoader batches + on-device crop/flip/normalise (what training consumes);
* streamed pipeline: DataLoader workers decoding JPEGs per item (the ImageNet-size path);
* training: forward + backward + AdamW step of small_cnn (T=4, batch 64), allocator tuned, on
  pre-assembled batches, and interleaved with it the same steps fed by the DeviceLoader (the
  pipeline never bounds training when the two rates agree).

The goal ratio is in-memory pipeline / training (must be >= 5). Prints a table and writes
``benchmarks/results/data_throughput.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sadp.data import BatchTransform, DeviceLoader, build_dataset
from sadp.snn import build_model, encode
from sadp.utils.perf import tune_cpu_allocator

RESULTS = Path(__file__).resolve().parent / "results" / "data_throughput.json"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def shared_cifar10_root() -> Path:
    """The team's CIFAR-10 JPEG tree, extracted once by scripts/shared_cifar10.py (not part of the package)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from shared_cifar10 import extract_cifar10
    finally:
        sys.path.remove(str(SCRIPTS))
    return extract_cifar10()


def _rate(n_images: int, seconds: float) -> float:
    return n_images / seconds if seconds > 0 else float("inf")


def pipeline_rate(loader: DeviceLoader, batches: int) -> tuple[float, int]:
    """Images/s of iterating ``batches`` batches (the first one excluded as warm-up)."""
    it = iter(loader)
    next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        try:
            x, _, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _, _ = next(it)
        n += x.shape[0]
    return _rate(n, time.perf_counter() - t0), n


def training_rates(bundle, steps: int, batch_size: int, T: int) -> tuple[float, float]:
    """Images/s of training steps on pre-assembled batches and on batches straight from the
    DeviceLoader, interleaved step by step so machine-load drift hits both alike."""
    model = build_model("small_cnn", bundle.sample_shape, bundle.num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DeviceLoader(bundle.train, range(len(bundle.train)), batch_size, "cpu", BatchTransform(bundle, train=True))
    batches = iter(loader)
    ready = [next(batches) for _ in range(steps + 1)]

    def step(x: torch.Tensor, y: torch.Tensor) -> int:
        loss = F.cross_entropy(model(encode(x, T)).mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return x.shape[0]

    step(*ready[0][:2])  # warm-up
    times = {"ready": 0.0, "loader": 0.0}
    n = {"ready": 0, "loader": 0}
    for i in range(steps):
        t0 = time.perf_counter()
        n["ready"] += step(*ready[i + 1][:2])
        t1 = time.perf_counter()
        x, y, _ = next(batches)  # batch assembly + augmentation inside the timed step
        n["loader"] += step(x, y)
        t2 = time.perf_counter()
        times["ready"] += t1 - t0
        times["loader"] += t2 - t1
    return _rate(n["ready"], times["ready"]), _rate(n["loader"], times["loader"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subset", type=int, default=5000, help="training images decoded (class-balanced)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="CIFAR-10 ImageFolder root (train/, test/) [default: the team's archive, extracted]")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batches", type=int, default=40, help="pipeline batches timed")
    ap.add_argument("--train-steps", type=int, default=6, help="training steps timed (each way)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the streamed pipeline")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    tune_cpu_allocator()
    torch.manual_seed(0)
    root = args.data_dir or shared_cifar10_root()

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        bundle = build_dataset("imagefolder", data_dir=root, subset=args.subset, cache_dir=cache)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_dataset("imagefolder", data_dir=root, subset=args.subset, cache_dir=cache)
        warm_s = time.perf_counter() - t0
    n_decoded = len(bundle.train) + len(bundle.test)

    mem_loader = DeviceLoader(bundle.train, torch.randperm(len(bundle.train)).tolist(), args.batch_size, "cpu",
                              BatchTransform(bundle, train=True))
    mem_rate, mem_n = pipeline_rate(mem_loader, args.batches)

    streamed = build_dataset("imagefolder", data_dir=root, subset=args.subset, stream=True, image_size=32)
    stream_loader = DeviceLoader(streamed.train, torch.randperm(len(streamed.train)).tolist(), args.batch_size, "cpu",
                                 BatchTransform(streamed, train=True), num_workers=args.workers)
    stream_rate, stream_n = pipeline_rate(stream_loader, args.batches)
    del stream_loader  # stops its persistent workers before timing training

    train_rate, fed_rate = training_rates(bundle, args.train_steps, args.batch_size, args.T)

    rows = [
        ("cold decode of JPEGs into memory (+ .npy cache write)", _rate(n_decoded, cold_s), n_decoded),
        ("warm load from the .npy cache", _rate(n_decoded, warm_s), n_decoded),
        ("in-memory pipeline: batches + crop/flip/normalise", mem_rate, mem_n),
        (f"streamed pipeline: {args.workers} workers decode per item", stream_rate, stream_n),
        (f"training small_cnn T={args.T}, batch {args.batch_size}", train_rate, args.train_steps * args.batch_size),
        ("training fed by the in-memory pipeline (interleaved)", fed_rate, args.train_steps * args.batch_size),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'stage':<{width}}  {'images/s':>10}  {'images':>7}")
    for name, rate, n in rows:
        print(f"{name:<{width}}  {rate:>10.0f}  {n:>7}")
    ratios = {
        "in_memory_pipeline_over_training": mem_rate / train_rate,
        "streamed_pipeline_over_training": stream_rate / train_rate,
        "fed_training_over_training": fed_rate / train_rate,
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.1f}x")
    ok = ratios["in_memory_pipeline_over_training"] >= 5
    print(f"goal (in-memory pipeline >= 5x training): {'PASS' if ok else 'FAIL'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "data_throughput",
        "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(), "torch": torch.__version__},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "images_per_s": {name: rate for name, rate, _ in rows},
        "ratios": ratios,
        "pass": ok,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
