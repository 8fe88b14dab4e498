"""Training-step time and peak memory of BPTT vs SLTT vs SLTT-K (K = 1, 2) on the same network.

    python benchmarks/sltt_step.py                       # small CNN, VGG-11, ResNet-19 at T = 4, 16 (short CPU run)
    python benchmarks/sltt_step.py --models resnet19 --T 4 --batch 32 --size 32 --steps 10   # larger

One step = forward + backward + SGD step (cross-entropy of the mean-over-T logits, as ``sadp train``),
direct-encoded input (one frame repeated T times as an expanded view, as the trainer feeds it).
Rows differ only in ``sadp.snn.set_backprop``: ``bptt``; ``sltt`` (every step, no temporal route);
``sltt-1`` and ``sltt-2`` (SLTT-K, K random steps per batch). The rows of one (model, T) are timed
round-robin (one step of each in turn), so they share the machine's background load and their
ratios to BPTT compare like with like; medians are reported. Peak memory is PyTorch's live
allocations during one step (``sadp.utils.perf.peak_memory``), above what was live before it.
Writes a table to stdout and JSON to ``benchmarks/results/sltt_step.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sadp.snn import build_model, set_backprop
from sadp.utils.perf import peak_memory, tune_cpu_allocator

ROWS = {"bptt": ("bptt", 0), "sltt": ("sltt", 0), "sltt-1": ("sltt", 1), "sltt-2": ("sltt", 2)}
OPTIONS = {"small_cnn": {"channels": (64, 128, 128)}, "vgg11": {}, "resnet19": {}}


class Row:
    def __init__(self, model: torch.nn.Module, mode: tuple[str, int], x: torch.Tensor, y: torch.Tensor) -> None:
        self.net = set_backprop(copy.deepcopy(model), *mode)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9)
        self.x, self.y = x, y

    def loss_backward(self) -> None:
        F.cross_entropy(self.net(self.x).mean(0), self.y).backward()

    def step(self) -> float:
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        self.loss_backward()
        self.opt.step()
        return time.perf_counter() - t0


def bench(args: argparse.Namespace, save: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for name in args.models:
        for T in args.T:
            torch.manual_seed(0)
            shape = (3, args.size, args.size)
            model = build_model(name, shape, 10, **OPTIONS[name])
            x = torch.rand(args.batch, *shape).unsqueeze(0).expand(T, args.batch, *shape)
            y = torch.randint(0, 10, (args.batch,))
            rows = {r: Row(model, mode, x, y) for r, mode in ROWS.items() if mode[1] <= T}
            memory = {}
            for r, row in rows.items():
                t0 = time.perf_counter()
                for _ in range(args.warmup):
                    row.step()
                warm = time.perf_counter() - t0
                if args.memory:
                    row.opt.zero_grad(set_to_none=True)
                    memory[r] = peak_memory(row.loss_backward) / 2**20
                print(f"  {name} T={T} {r}: warm-up {warm:.1f} s"
                      + (f", peak {memory[r]:.0f} MiB" if args.memory else ""), flush=True)
            times: dict[str, list[float]] = {r: [] for r in rows}
            for _ in range(args.steps):
                for r, row in rows.items():
                    times[r].append(row.step())
            base_t, base_m = statistics.median(times["bptt"]), memory.get("bptt")
            for r, ts in times.items():
                med = statistics.median(ts)
                results.append({
                    "model": name, "T": T, "batch": args.batch, "size": args.size, "row": r, "median_ms": med * 1e3,
                    "min_ms": min(ts) * 1e3, "times_ms": [t * 1e3 for t in ts], "time_vs_bptt": med / base_t,
                    "peak_MiB": memory.get(r), "memory_vs_bptt": (memory[r] / base_m) if base_m else None,
                })
                print(f"  {name} T={T} {r}: {med * 1e3:.0f} ms/step ({med / base_t:.2f}x BPTT)", flush=True)
            save(results)
            del rows
    return results


def print_table(results: list[dict[str, Any]]) -> None:
    print("\n| model | T | batch | size | row | median ms/step | time / BPTT | peak MiB | memory / BPTT |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        mem = "" if r["peak_MiB"] is None else f"{r['peak_MiB']:.0f}"
        mr = "" if r["memory_vs_bptt"] is None else f"{r['memory_vs_bptt']:.2f}x"
        print(f"| {r['model']} | {r['T']} | {r['batch']} | {r['size']} | {r['row']} | {r['median_ms']:.0f} | "
              f"{r['time_vs_bptt']:.2f}x | {mem} | {mr} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["small_cnn", "vgg11", "resnet19"], choices=sorted(OPTIONS))
    p.add_argument("--T", nargs="+", type=int, default=[4, 16])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=32, help="input resolution (3 x size x size)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per row first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory measurement")
    p.add_argument("--out", default="benchmarks/results/sltt_step.json")
    args = p.parse_args(argv)
    tuned = tune_cpu_allocator()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, allocator tuned: {tuned}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(results: list[dict[str, Any]], complete: bool = False) -> None:
        out.write_text(json.dumps({
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__,
                        "threads": args.threads, "cpu_count": os.cpu_count(), "allocator_tuned": tuned,
                        "load_avg": os.getloadavg()},
            "complete": complete, "args": vars(args), "results": results,
        }, indent=2))

    results = bench(args, save)
    save(results, complete=True)
    print_table(results)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
