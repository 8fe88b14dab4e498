"""One prepared check for a lent CUDA machine, within about 8 minutes, writing one JSON file.

    python benchmarks/gpu_check.py --data-dir /path/to/cifar10     # on a CUDA machine
    python benchmarks/gpu_check.py --cpu --quick                    # CPU rehearsal (a test runs it)

Three parts, each recorded even when a later one fails or the time budget runs out:
1. tests: the CUDA-marked tests (``pytest -k cuda``; the Triton kernel against the reference on
   the GPU), their closing line and exit code;
2. step time: one training step (forward + backward + SGD step, CUDA-synchronised, median of N)
   of small_cnn (64-128-128) and VGG-11 at full width, T = 4, ours against SpikingJelly's fastest
   available form (eager and torch.compile; SpikingJelly 2.0 has no other backend switch);
3. training: the deep regime of the evidence-v3 study (``experiments/evidence-deep.yaml``: VGG-11,
   1,000 CIFAR-10 images, the evidence-sgd recipe) at full VGG width, full data and SADP r = 0.5,
   for ``--epochs`` epochs: test accuracy, epoch times and SADP's spike-factor CV per epoch. Without ``--data-dir`` (or
   ``CIFAR10_DIR``) it trains on the embedded digits instead and says so.

``--cpu --quick`` runs the same code on the CPU at toy sizes (tests collected only, batch 4, VGG
width 1/8, digits, one epoch), so the script is known to work before a GPU is lent.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_time import spikingjelly_net  # noqa: E402  (benchmarks/ is not a package)

from sadp.experiments.sweep_spec import SweepSpec  # noqa: E402
from sadp.snn import build_model  # noqa: E402
from sadp.train.config import TrainConfig  # noqa: E402
from sadp.train.trainer import Trainer  # noqa: E402
from sadp.utils.io import atomic_write_json  # noqa: E402
from sadp.utils.perf import compile_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEEP_SPEC = ROOT / "experiments" / "evidence-deep.yaml"


def deep_recipe() -> dict[str, Any]:
    """The deep regime's training settings: the config its sweep gives the full-data cell of seed 0
    (the sweep's own merge of shared and dataset settings), so the two cannot drift apart.

    Without the cell's output, data directory, method and ratio (each training cell of the check sets
    its own); the check also overrides the width and the epochs, and evaluates every epoch.
    """
    cell = next(c for c in SweepSpec.load(DEEP_SPEC).cells(ROOT / "runs", resolve_data=False)
                if c.label == "full" and c.seed == 0)
    recipe = {k: v for k, v in cell.config.items() if k not in ("out", "data_dir", "method", "ratio")}
    return dict(recipe, eval_every=1, train_eval_size=0)


class Budget:
    """Seconds left of the whole check; parts ask before they start."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def run_tests(quick: bool, budget: Budget) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-k", "cuda", "tests/snn", "-p", "no:cacheprovider"]
    if quick:
        cmd.append("--collect-only")
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                           timeout=max(10.0, min(240.0, budget.left() / 2)))
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        return {"command": " ".join(cmd[1:]), "returncode": r.returncode, "closing_line": lines[-1] if lines else "",
                "seconds": time.perf_counter() - t0}
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd[1:]), "returncode": None, "closing_line": "timed out",
                "seconds": time.perf_counter() - t0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(net: torch.nn.Module, reset: Callable[[], None], x: torch.Tensor, y: torch.Tensor, steps: int,
               warmup: int) -> dict[str, Any]:
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    times = []
    for i in range(warmup + steps):
        _sync(x.device)
        t0 = time.perf_counter()
        reset()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x).mean(0), y).backward()
        opt.step()
        _sync(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    out: dict[str, Any] = {"median_ms": 1e3 * statistics.median(times), "steps": steps}
    if x.device.type == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated(x.device) / 2**20
    return out


def step_times(device: torch.device, quick: bool, budget: Budget) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    batch, steps, warmup = (4, 2, 1) if quick else (64, 20, 5)
    models = [("small_cnn", {"channels": (64, 128, 128)}), ("vgg11", {"width": 0.125 if quick else 1.0})]
    for name, kw in models:
        torch.manual_seed(0)
        model = build_model(name, (3, 32, 32), 10, **kw).to(device)
        x = torch.randn(1, batch, 3, 32, 32, device=device).expand(4, -1, -1, -1, -1)  # direct encoding, T = 4
        y = torch.randint(0, 10, (batch,), device=device)
        builders: list[tuple[str, Callable[[], Any]]] = [("sadp", lambda: (model, lambda: None))]
        builders.append(("SpikingJelly eager", lambda: spikingjelly_net(model)))
        if not quick:
            def sj_compiled() -> Any:
                built = spikingjelly_net(model)
                return None if built is None else (compile_model(built[0]), built[1])
            builders.append(("SpikingJelly compiled", sj_compiled))
        for row, build in builders:
            if budget.left() < 60:
                rows.append({"model": name, "row": row, "skipped": "time budget"})
                continue
            built = build()
            if built is None:
                rows.append({"model": name, "row": row, "skipped": "SpikingJelly not importable"})
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                rows.append({"model": name, "row": row, "batch": batch, "T": 4,
                             **time_steps(built[0].to(device), built[1], x, y, steps, warmup)})
            except Exception as e:  # a competitor that fails on this machine is a result, not a crash
                rows.append({"model": name, "row": row, "error": f"{type(e).__name__}: {e}"[:300]})
        sj = [r for r in rows if r["model"] == name and r["row"].startswith("SpikingJelly") and "median_ms" in r]
        ours = next((r for r in rows if r["model"] == name and r["row"] == "sadp" and "median_ms" in r), None)
        if sj and ours:
            best = min(sj, key=lambda r: r["median_ms"])
            ours["vs_fastest_spikingjelly"] = {"row": best["row"], "ratio": ours["median_ms"] / best["median_ms"]}
    return rows


def train_cells(device: torch.device, quick: bool, data_dir: str | None, epochs: int, budget: Budget,
                out: Path) -> list[dict[str, Any]]:
    base: dict[str, Any] = dict(deep_recipe(), data_dir=data_dir, model_options={"width": 1.0}, epochs=epochs)
    note = ""
    if quick or not data_dir:
        base.update(dataset="digits", data_dir=None, subset=200 if quick else None, augment=None,
                    model_options={"width": 0.125 if quick else 1.0}, batch_size=32 if quick else 64)
        note = "embedded digits (no CIFAR-10 directory given)" if not quick else "CPU rehearsal on digits"
    rows = []
    for method, ratio in (("full", 0.0), ("sadp", 0.5)):
        if budget.left() < 90:
            rows.append({"method": method, "ratio": ratio, "skipped": "time budget"})
            continue
        cfg = TrainConfig(**base, method=method, ratio=ratio, device=str(device), progress=False,
                          out=str(out / f"{method}-r{ratio:g}"))
        try:
            summary = Trainer(cfg.validate()).fit()
        except Exception as e:
            rows.append({"method": method, "ratio": ratio, "error": f"{type(e).__name__}: {e}"[:300]})
            continue
        metrics = [json.loads(line) for line in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()
                   if line.strip()]
        rows.append({"method": method, "ratio": ratio, "data": note or f"CIFAR-10 {base['subset']} images",
                     "model_options": base["model_options"], "epochs": epochs, "test_acc": summary.get("test_acc"),
                     "train_time_s": summary.get("train_time_s"), "epoch_times_s": summary.get("epoch_times_s"),
                     "train_acc": [m.get("train_acc") for m in metrics],
                     "spike_factor_cv": [m.get("spike_factor_cv") for m in metrics]})
    return rows


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
                            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true",
                   help="run on the CPU (a rehearsal; without it a CUDA device is required)")
    p.add_argument("--quick", action="store_true",
                   help="toy sizes: tests collected only, batch 4, VGG width 1/8, digits, 1 epoch")
    p.add_argument("--data-dir", default=os.environ.get("CIFAR10_DIR"),
                   help="CIFAR-10 ImageFolder root for the training part "
                        "[default: $CIFAR10_DIR; else the embedded digits]")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per training cell [default: 3, or 1 with --quick]")
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="seconds for the whole check; parts are skipped past it")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_check.json"))
    args = p.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; --cpu runs the CPU rehearsal", file=sys.stderr)
        return 2
    if args.data_dir and not Path(args.data_dir, "train").is_dir():
        print(f"gpu_check: --data-dir {args.data_dir} has no train/ folder (an ImageFolder root is expected)",
              file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.cpu else "cuda")
    budget = Budget(args.budget_s)
    epochs = args.epochs or (1 if args.quick else 3)
    result: dict[str, Any] = {"machine": machine(device), "args": vars(args),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def save() -> None:
        atomic_write_json(Path(args.out), result)

    print("gpu_check: CUDA-marked tests ...", flush=True)
    result["tests"] = run_tests(args.quick, budget)
    print(f"  {result['tests']['closing_line']}", flush=True)
    save()
    print("gpu_check: training-step time ...", flush=True)
    result["step_time"] = step_times(device, args.quick, budget)
    save()
    for r in result["step_time"]:
        extra = f"  ({r['vs_fastest_spikingjelly']['ratio']:.2f}x {r['vs_fastest_spikingjelly']['row']})" \
            if "vs_fastest_spikingjelly" in r else ""
        print(f"  {r['model']:<10} {r['row']:<22} " + (f"{r['median_ms']:9.2f} ms" if "median_ms" in r else
                                                      r.get("skipped") or r.get("error", "")) + extra, flush=True)
    print(f"gpu_check: training the deep regime ({epochs} epoch(s) per cell) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result["training"] = train_cells(device, args.quick, args.data_dir, epochs, budget, Path(tmp))
    for r in result["training"]:
        print(f"  {r['method']} r={r['ratio']:g}: " + (f"test acc {r['test_acc']:.4f}, train {r['train_time_s']:.1f} s"
                                                       if "test_acc" in r else r.get("skipped") or r.get("error", "")),
              flush=True)
    result["seconds"] = args.budget_s - budget.left()
    save()
    print(f"gpu_check: done in {result['seconds']:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
