"""Overhead of the pruning engine per epoch: score updates (one ``observe`` per training batch)
plus the epoch's ``select``, at CIFAR size (N = 50,000) and ImageNet size (N = 1,281,167), and as
a fraction of a measured training epoch of the small spiking CNN at N = 50,000.

    python benchmarks/pruning_overhead.py            # sadp, infobatch, random_dynamic, loss
    python benchmarks/pruning_overhead.py --quick    # sadp only, fewer repeats

Synthetic batch statistics (logits, losses, spike counts [T, B], and the readout's and losses'
gradients of a weighted CE step) are built before timing and reused, so only score work is timed:
reading ||softmax(z) - y|| off the gradients, as the trainer does (timed with the method), then
``observe``. The row "sadp (softmax)" is a hand-written loop that passes no gradients, where
``observe`` computes the softmax itself. Every epoch here observes all N examples (a full-data
epoch); a pruned epoch at ratio r observes (1 - r) N. The training epoch is extrapolated from timed
steps (forward + backward + SGD, batch 64, 3x32x32 input, T = 4): steps_per_epoch x median step.
Goals: overhead under 1 s per epoch at ImageNet size and under 1% of the epoch.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sadp.pruning import StepStats, build_method
from sadp.pruning.scores import output_error_from_gradients

SIZES = {"cifar (50,000)": (50_000, 10), "imagenet (1,281,167)": (1_281_167, 1000)}


def make_stats(n: int, classes: int, batch: int, pool: int,
               T: int) -> list[tuple[StepStats, torch.Tensor, torch.Tensor]]:
    """Batch statistics plus the readout's and the losses' gradients of a weighted CE step."""
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(pool):
        idx = torch.randint(n, (batch,), generator=g)
        logits = torch.randn(batch, classes, generator=g).requires_grad_()
        y = torch.randint(classes, (batch,), generator=g)
        loss = F.cross_entropy(logits, y, reduction="none")
        loss.retain_grad()
        (torch.rand(batch, generator=g) * loss).mean().backward()
        counts = torch.randint(0, 500, (T, batch), generator=g).float()
        out.append((StepStats(idx, logits.detach(), y, loss.detach(), counts),
                    logits.grad, loss.grad))
    return out


def time_method(name: str, n: int, classes: int, batch: int, T: int, repeats: int,
                from_gradients: bool = True) -> dict[str, float]:
    """``from_gradients``: the trainer's route, ||softmax(z) - y|| read off the step's gradients
    (timed here: it is score work); otherwise the method computes it from the logits (plain loops)."""
    method = build_method(name, n, ratio=0.5, epochs=10, seed=0)
    stats = make_stats(n, classes, batch, pool=16, T=T)
    steps = -(-n // batch)
    method.select(0)
    observe_s, select_s = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        for s in range(steps):
            st, logit_grad, loss_grad = stats[s % len(stats)]
            use = from_gradients and method.uses_output_error  # the trainer computes it only for these
            st.output_error = output_error_from_gradients(logit_grad, loss_grad, st.targets) if use else None
            method.observe(st)
        t1 = time.perf_counter()
        method.end_epoch(r)
        plan = method.select(1 + r)  # a pruned epoch
        t2 = time.perf_counter()
        observe_s.append(t1 - t0)
        select_s.append(t2 - t1)
    return {"observe_s": statistics.median(observe_s), "select_s": statistics.median(select_s),
            "total_s": statistics.median(o + s for o, s in zip(observe_s, select_s)), "selected": len(plan),
            "steps": steps}


def time_training_epoch(n: int, batch: int, T: int, steps: int) -> dict[str, float]:
    from sadp.snn import build_model
    from sadp.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    torch.manual_seed(0)
    model = build_model("small_cnn", (3, 32, 32), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(T, batch, 3, 32, 32)
    y = torch.randint(10, (batch,))
    times = []
    for i in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x).mean(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    epoch_steps = -(-n // batch)
    return {"step_s": step, "steps_per_epoch": epoch_steps, "epoch_s": step * epoch_steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="sadp only, 1 repeat, 3 training steps")
    p.add_argument("--methods", nargs="+", default=["sadp", "infobatch", "random_dynamic", "loss"])
    p.add_argument("--batch", type=int, default=256, help="batch size of the observe calls")
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=5, help="timed training steps of the small CNN")
    p.add_argument("--method-threads", type=int, default=torch.get_num_threads(),
                   help="intra-op threads while timing the method (its ops are tiny; on a machine shared with "
                        "other jobs, 1 avoids OpenMP barrier stalls that dominate otherwise)")
    p.add_argument("--out", default="benchmarks/results/pruning_overhead.json")
    args = p.parse_args()
    methods = ["sadp"] if args.quick else args.methods
    repeats = 1 if args.quick else args.repeats
    train_steps = 3 if args.quick else args.train_steps

    train_threads = torch.get_num_threads()
    rows: list[dict[str, Any]] = []
    torch.set_num_threads(args.method_threads)
    for size, (n, classes) in SIZES.items():
        for name in methods:
            r = time_method(name, n, classes, args.batch, args.T, repeats)
            rows.append({"size": size, "N": n, "method": name, **r})
            if name == "sadp":  # a hand-written loop that passes no gradients: softmax in observe
                r = time_method(name, n, classes, args.batch, args.T, repeats, from_gradients=False)
                rows.append({"size": size, "N": n, "method": "sadp (softmax)", **r})
    torch.set_num_threads(train_threads)
    train = time_training_epoch(50_000, 64, args.T, train_steps)
    for r in rows:
        if r["N"] == 50_000:
            r["fraction_of_epoch"] = r["total_s"] / train["epoch_s"]

    print(f"pruning overhead per epoch (ratio 0.5, observe batch {args.batch}, T={args.T}, "
          f"{args.method_threads} threads for the method, {train_threads} for training)")
    print(f"{'size':<22}{'method':<16}{'observe s':>10}{'select s':>10}{'total s':>10}{'% of epoch':>12}")
    for r in rows:
        frac = f"{100 * r['fraction_of_epoch']:.3f}" if "fraction_of_epoch" in r else "-"
        print(f"{r['size']:<22}{r['method']:<16}{r['observe_s']:>10.3f}{r['select_s']:>10.3f}{r['total_s']:>10.3f}{frac:>12}")
    print(f"small CNN training epoch at N=50,000 (batch 64, 3x32x32, T={args.T}): {train['step_s']:.3f} s/step x "
          f"{train['steps_per_epoch']} steps = {train['epoch_s']:.1f} s (extrapolated from {train_steps} steps)")
    result = {"rows": rows, "training_epoch": train, "batch": args.batch, "T": args.T,
              "method_threads": args.method_threads, "train_threads": train_threads, "torch": torch.__version__,
              "machine": platform.machine(),
              "processor": platform.processor()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
