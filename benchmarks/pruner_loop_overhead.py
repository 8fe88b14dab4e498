"""What ``sadp.Pruner`` costs a training loop, per example: the plain loop against the same loop
through the Pruner, on the small SpikingJelly network of ``examples/spikingjelly_loop.py``
(Flatten -> Linear 64-128 -> LIF -> Linear 128-10, multi-step, T = 4) on the embedded digits
(1,438 training images, batch 64), 1 thread.

    python benchmarks/pruner_loop_overhead.py                 # 5 repeats x 6 epochs (~2 min)
    python benchmarks/pruner_loop_overhead.py --repeats 2     # quicker, noisier
    python benchmarks/pruner_loop_overhead.py --profile sadp  # cProfile one variant's epochs instead

Variants, each a fresh network with the same initial weights and the same loop (DataLoader,
direct encoding, forward, backward, AdamW step; ``functional.reset_net`` per batch):

* ``plain``: ``DataLoader(shuffle=True)`` and ``F.cross_entropy(out.mean(0), y)``;
* ``pruner full``: ``Pruner(net, train, "sadp", ratio=0)``: every example every epoch, all of
  SADP's bookkeeping (spike monitor, output error off the backward pass, score updates, report);
* ``pruner sadp``: ``Pruner(net, train, "sadp", ratio=0.3)``: per example over its pruned epochs
  (1-4 of 0-5: epoch 0 and the annealed epoch 5 train on full data).

Time per example = an epoch's CPU time of this process (``time.process_time``: on a shared
machine wall time mostly measures the other jobs; ``--wall`` for wall time), loader,
``start_epoch`` and ``end_epoch`` included, / the examples it trained. The variants run
interleaved epoch by epoch (the order rotates every epoch), so machine noise hits all of them
alike; each variant's time is the median over repeats of the median over its timed epochs (1-5;
1-4 for pruned SADP epochs), its ratio the median over repeats of its time / the plain loop's in
the same repeat. Ratios are what to compare across machines. Writes ``benchmarks/results/pruner_loop_overhead.json``.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import sadp
from sadp.data import build_dataset
from sadp.train.inputs import ModelInputs

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "pruner full", "pruner sadp")
EPOCHS = 6


def build_net(classes: int) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(0)
    net = nn.Sequential(layer.Flatten(), layer.Linear(64, 128),
                        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True),
                        layer.Linear(128, classes))
    functional.set_step_mode(net, "m")
    return net


class Loop:
    """One variant's network, optimizer, loader and pruner; ``epoch(e)`` trains one epoch."""

    def __init__(self, variant: str, bundle: Any, inputs: ModelInputs, batch: int, cpu_time: bool = True) -> None:
        from spikingjelly.activation_based import functional

        self.cpu_time = cpu_time
        self.reset = functional.reset_net
        self.variant, self.inputs = variant, inputs
        self.net = build_net(bundle.num_classes)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-2)
        self.pruner = None
        if variant == "plain":
            self.loader = DataLoader(bundle.train, batch_size=batch, shuffle=True,
                                     generator=torch.Generator().manual_seed(0))
        else:
            ratio = 0.0 if variant == "pruner full" else 0.3
            self.pruner = sadp.Pruner(self.net, bundle.train, "sadp", ratio=ratio, epochs=EPOCHS, seed=0)
            self.loader = DataLoader(bundle.train, batch_size=batch, sampler=self.pruner.sampler)

    def epoch(self, e: int) -> tuple[float, int, bool]:
        """(seconds, examples trained, whether the epoch was pruned)."""
        net, opt, pruner, inputs = self.net, self.opt, self.pruner, self.inputs
        t0 = time.process_time() if self.cpu_time else time.perf_counter()
        seen = 0
        if pruner is not None:
            pruner.start_epoch(e)
        net.train()
        for x, y in self.loader:
            self.reset(net)
            out = net(inputs(x, train=True))
            loss = F.cross_entropy(out.mean(0), y) if pruner is None else pruner.loss(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        pruned = False
        if pruner is not None:
            report = pruner.end_epoch()
            pruned = report.selected < report.num_examples
        return (time.process_time() if self.cpu_time else time.perf_counter()) - t0, seen, pruned


def timed_epochs(variant: str, per_epoch: list[tuple[float, int, bool]]) -> list[float]:
    """Microseconds per example of the epochs that count for ``variant``."""
    rows = [(s, n, pruned) for e, (s, n, pruned) in enumerate(per_epoch) if e >= 1]
    if variant == "pruner sadp":
        rows = [r for r in rows if r[2]]
    return [1e6 * s / n for s, n, _ in rows]


def profile(variant: str, bundle: Any, inputs: ModelInputs, batch: int, top: int) -> None:
    loop = Loop(variant, bundle, inputs, batch)
    loop.epoch(0)
    prof = cProfile.Profile()
    prof.enable()
    for e in range(1, EPOCHS):
        loop.epoch(e)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
    print(s.getvalue())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--wall", action="store_true", help="time wall clock instead of this process's CPU time")
    p.add_argument("--profile", choices=["plain", "full", "sadp"], default=None)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pruner_loop_overhead.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bundle = build_dataset("digits")
    inputs = ModelInputs(bundle, T=4)
    if args.profile:
        profile({"plain": "plain", "full": "pruner full", "sadp": "pruner sadp"}[args.profile], bundle, inputs,
                args.batch, args.top)
        return

    medians: dict[str, list[float]] = {v: [] for v in VARIANTS}
    load = [os.getloadavg()[0]]
    for rep in range(args.repeats):
        loops = {v: Loop(v, bundle, inputs, args.batch, cpu_time=not args.wall) for v in VARIANTS}
        per_epoch: dict[str, list[tuple[float, int, bool]]] = {v: [] for v in VARIANTS}
        for e in range(EPOCHS):
            k = (rep * EPOCHS + e) % len(VARIANTS)
            for v in VARIANTS[k:] + VARIANTS[:k]:  # rotate the order every epoch
                per_epoch[v].append(loops[v].epoch(e))
        for v in VARIANTS:
            medians[v].append(statistics.median(timed_epochs(v, per_epoch[v])))
        for lp in loops.values():
            if lp.pruner is not None:
                lp.pruner.remove()
        load.append(os.getloadavg()[0])
        print(f"repeat {rep + 1}: " + ", ".join(f"{v} {medians[v][-1]:.1f} us" for v in VARIANTS), flush=True)

    plain = statistics.median(medians["plain"])
    rows = []
    for v in VARIANTS:
        us = statistics.median(medians[v])
        # per repeat, against the same repeat's plain loop (the interleaved pairs)
        ratios = [m / b for m, b in zip(medians[v], medians["plain"])]
        rows.append({"variant": v, "us_per_example": us, "vs_plain": statistics.median(ratios),
                     "us_per_step_over_plain": (us - plain) * args.batch,
                     "vs_plain_per_repeat": ratios, "us_per_repeat": medians[v]})
    print(f"\nper-example training time, small SpikingJelly net (digits, T=4, batch {args.batch}, "
          f"{args.threads} thread(s), {args.repeats} interleaved repeats, "
          f"load average {min(load):.2f}-{max(load):.2f})")
    print(f"| {'loop':<12} | CPU us/example | vs plain (median of paired repeats) | range | CPU us/batch over plain |")
    print("|---|---|---|---|---|")
    for r in rows:
        lo, hi = min(r["vs_plain_per_repeat"]), max(r["vs_plain_per_repeat"])
        print(f"| {r['variant']:<12} | {r['us_per_example']:.1f} | {r['vs_plain']:.3f} | {lo:.3f}-{hi:.3f} | "
              f"{r['us_per_step_over_plain']:.0f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "rows": rows, "clock": "wall" if args.wall else "process CPU time", "repeats": args.repeats,
        "batch": args.batch, "threads": args.threads, "epochs": EPOCHS,
        "loadavg": load, "torch": torch.__version__, "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
