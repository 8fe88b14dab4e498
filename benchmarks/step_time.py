"""Training-step time (forward + backward + SGD step) of the same spiking network on our substrate,
SpikingJelly and snnTorch, plus peak memory vs T for our default and memory-lean modes.

Every row runs in this one process with the same allocator tuning (glibc mallopt) and thread count,
so ratios are measured in one run. Competitors are skipped cleanly when they do not import.

    python benchmarks/step_time.py            # small CNN + ResNet-19, T = 4 and 16
    python benchmarks/step_time.py --quick    # small CNN, T = 4, few steps, no compile

"Same network": our model's conv/BN/pool/linear modules with its neurons swapped for the other
library's LIF (tau = 2, hard reset, ATan surrogate) and our two layer optimisations undone
(:func:`plain_layers`: nn.MaxPool2d instead of the C++ MaxPool2x2, a plain time-folding container
instead of SeqToANN's static-input reuse). SpikingJelly runs multi-step in its SeqToANNContainer;
snnTorch runs its idiomatic loop over time steps, one step at a time. The input is direct-encoded
as the trainer feeds it (one frame repeated T times as an expanded view), the same for every row.
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
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from sadp.snn import SpikingNeuron, build_model, set_backend, set_memory_mode
from sadp.snn.layers import MaxPool2x2, SeqToANN
from sadp.utils.perf import compile_model, peak_memory, tune_cpu_allocator

SHAPES = {  # model -> (input shape, batch size, kwargs)
    "small_cnn": ((3, 32, 32), 64, {"channels": (64, 128, 128)}),
    "resnet19": ((3, 32, 32), 32, {}),
}


def swap_neurons(model: nn.Module, factory: Callable[[], nn.Module]) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, SpikingNeuron):
            setattr(model, name, factory())
        else:
            swap_neurons(child, factory)
    return model


class PlainSeqToANN(nn.Sequential):
    """Fold T into the batch and run every module on [T*B, ...], as SpikingJelly's
    SeqToANNContainer does (no reuse of a static input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        T, B = x.shape[:2]
        return super().forward(x.flatten(0, 1)).unflatten(0, (T, B))


def plain_layers(model: nn.Module, container: Callable[..., nn.Module] = PlainSeqToANN) -> nn.Module:
    """The competitors' version of our network: our SeqToANN (static-input reuse) becomes the
    library's plain container and our C++ MaxPool2x2 becomes nn.MaxPool2d, so their rows measure
    what their users run, not our layers."""
    for name, child in model.named_children():
        if isinstance(child, SeqToANN):
            mods = [nn.MaxPool2d(2) if isinstance(m, MaxPool2x2) else m for m in child]
            setattr(model, name, container(*mods))
        else:
            plain_layers(child, container)
    return model


# ---- competitors ---------------------------------------------------------------------------
def spikingjelly_net(model: nn.Module) -> tuple[nn.Module, Callable[[], None]] | None:
    try:
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    except Exception:  # a plain ImportError, or torchvision's RuntimeError beside a CPU torch
        return None
    net = swap_neurons(plain_layers(copy.deepcopy(model), layer.SeqToANNContainer), lambda: neuron.LIFNode(
        tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan(),
        detach_reset=False, step_mode="m"))
    return net, lambda: functional.reset_net(net)


class SnnTorchLIF(nn.Module):
    """snnTorch Leaky for one time step [1, B, ...]; the membrane persists across calls until reset."""

    def __init__(self) -> None:
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.lif = snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0), reset_mechanism="zero")
        self.mem: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mem is None:
            self.mem = torch.zeros_like(x[0])
        spk, self.mem = self.lif(x[0], self.mem)
        return spk.unsqueeze(0)


class TimeLoop(nn.Module):
    """snnTorch style: run the whole network one time step at a time, stack per-step logits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.net.modules():
            if isinstance(m, SnnTorchLIF):
                m.mem = None
        return torch.cat([self.net(x[t : t + 1]) for t in range(x.shape[0])])


def snntorch_net(model: nn.Module) -> tuple[nn.Module, Callable[[], None]] | None:
    try:
        import snntorch  # noqa: F401
    except Exception:
        return None
    return TimeLoop(swap_neurons(plain_layers(copy.deepcopy(model)), SnnTorchLIF)), lambda: None


# ---- timing --------------------------------------------------------------------------------
class StepRunner:
    """One row's network, optimiser and data; ``step()`` times one training step."""

    def __init__(self, net: nn.Module, reset: Callable[[], None], backend: str, x: torch.Tensor, y: torch.Tensor):
        self.net, self.reset, self.backend, self.x, self.y = net, reset, backend, x, y
        self.opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step(self) -> float:
        with set_backend(self.backend):
            t0 = time.perf_counter()
            self.reset()
            self.opt.zero_grad(set_to_none=True)
            F.cross_entropy(self.net(self.x).mean(0), self.y).backward()
            self.opt.step()
            return time.perf_counter() - t0


def rows_for(model: nn.Module,
             compile_rows: bool) -> list[tuple[str, Callable[[], tuple[nn.Module, Callable[[], None]] | None], str]]:
    """(row name, builder, backend) — builders return (net, reset) or None when the library is missing."""
    def ours(mode: str, compiled: bool = False):
        def build():
            net = set_memory_mode(copy.deepcopy(model), mode)
            return (compile_model(net) if compiled else net), (lambda: None)
        return build

    def compiled(builder):
        def build():
            built = builder()
            return None if built is None else (compile_model(built[0]), built[1])
        return build

    rows = [
        ("sadp default (fused)", ours("default"), "auto"),
        ("sadp reference loop", ours("default"), "reference"),
        ("sadp memory-lean", ours("lean"), "auto"),
        ("SpikingJelly eager", lambda: spikingjelly_net(model), "auto"),
        ("snnTorch eager", lambda: snntorch_net(model), "auto"),
    ]
    if compile_rows:
        rows += [
            ("sadp compiled", ours("default", compiled=True), "auto"),
            ("SpikingJelly compiled", compiled(lambda: spikingjelly_net(model)), "auto"),
        ]
    return rows


COMPETITORS = ("SpikingJelly", "snnTorch")


def bench_steps(args: argparse.Namespace, save: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Rows are timed round-robin (one step of each row in turn), so every row sees the same
    background load on a shared machine; the ratios then compare like with like."""
    results: list[dict[str, Any]] = []
    for name in args.models:
        shape, batch, kw = SHAPES[name]
        batch = args.batch or batch
        for T in (args.T if name == "small_cnn" else args.T_resnet):
            torch.manual_seed(0)
            model = build_model(name, shape, 10, **kw)
            # Direct encoding as the trainer feeds it (sadp.snn.encode): one frame repeated T times,
            # an expanded view. Every row gets this same tensor and handles it its own way.
            x = torch.rand(batch, *shape).unsqueeze(0).expand(T, batch, *shape)
            y = torch.randint(0, 10, (batch,))
            # fewer steps where a step is long: small CNN T=16 ~4x T=4; ResNet-19 ~10x the small CNN
            steps = max(3, args.steps * 4 // T) if name == "small_cnn" else args.slow_steps
            warmup = args.warmup if name == "small_cnn" else 1
            # compiling takes minutes on 2 cores: compiled rows for the small CNN at --compile-T only
            runners: dict[str, StepRunner] = {}
            for row, build, backend in rows_for(model, args.compile and name == "small_cnn" and T in args.compile_T):
                built = build()
                if built is None:
                    print(f"  {name} T={T} {row}: skipped (library not installed)", flush=True)
                    continue
                runners[row] = StepRunner(*built, backend, x, y)
                t0 = time.perf_counter()
                for _ in range(warmup):
                    runners[row].step()
                print(f"  {name} T={T} {row}: warm-up {time.perf_counter() - t0:.1f} s", flush=True)
            times: dict[str, list[float]] = {row: [] for row in runners}
            for _ in range(steps):
                for row, runner in runners.items():
                    times[row].append(runner.step())
            block = []
            for row, ts in times.items():
                med = statistics.median(ts)
                block.append({"model": name, "T": T, "batch": batch, "row": row, "median_ms": med * 1e3,
                              "min_ms": min(ts) * 1e3, "steps": len(ts), "times_ms": [t * 1e3 for t in ts]})
                print(f"  {name} T={T} {row}: {med * 1e3:.0f} ms/step (min {min(ts) * 1e3:.0f}, {len(ts)} steps)",
                      flush=True)
            best = [r["median_ms"] for r in block if r["row"].startswith(COMPETITORS)]
            for r in block:
                r["ratio_vs_best_competitor"] = r["median_ms"] / min(best) if best else None
            results += block
            save(results)
            del runners
    return results


def bench_memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for name, batch, Ts in (("small_cnn", args.memory_batch, args.memory_T), ("resnet19", 2, args.memory_T_resnet)):
        shape, _, kw = SHAPES[name]
        for T in Ts:
            torch.manual_seed(0)
            model = build_model(name, shape, 10, **kw)
            x = torch.rand(batch, *shape).unsqueeze(0).expand(T, batch, *shape)  # direct encoding, as above
            y = torch.randint(0, 10, (batch,))
            peaks = {}
            for mode in ("default", "lean"):
                set_memory_mode(model, mode)

                def step():
                    F.cross_entropy(model(x).mean(0), y).backward()

                step()  # warm-up (lazy allocations)
                peaks[mode] = peak_memory(step) / 2**20
            row = {"model": name, "T": T, "batch": batch, "default_MiB": peaks["default"],
                   "lean_MiB": peaks["lean"], "lean_over_default": peaks["lean"] / peaks["default"]}
            print(f"  memory {name} T={T} batch {batch}: default {peaks['default']:.0f} MiB, "
                  f"lean {peaks['lean']:.0f} MiB ({row['lean_over_default']:.2f}x)", flush=True)
            out.append(row)
    return out


def print_tables(steps: list[dict[str, Any]], memory: list[dict[str, Any]]) -> None:
    if steps:
        print("\n| model | T | batch | row | median ms/step | vs best competitor |")
        print("|---|---|---|---|---|---|")
        for r in steps:
            ratio = "" if r["ratio_vs_best_competitor"] is None else f"{r['ratio_vs_best_competitor']:.2f}x"
            print(f"| {r['model']} | {r['T']} | {r['batch']} | {r['row']} | {r['median_ms']:.0f} | {ratio} |")
    if memory:
        print("\n| model | T | batch | peak MiB default | peak MiB memory-lean | lean / default |")
        print("|---|---|---|---|---|---|")
        for r in memory:
            print(f"| {r['model']} | {r['T']} | {r['batch']} | {r['default_MiB']:.0f} | {r['lean_MiB']:.0f} | "
                  f"{r['lean_over_default']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small CNN, T=4, 3 steps, no compile, small memory table")
    p.add_argument("--models", nargs="+", default=["small_cnn", "resnet19"], choices=sorted(SHAPES))
    p.add_argument("--T", nargs="+", type=int, default=[4, 16])
    p.add_argument("--T-resnet", nargs="+", type=int, default=[4], help="T for ResNet-19 (slow on CPU)")
    p.add_argument("--batch", type=int, default=None, help="override the batch size (64 small CNN, 32 ResNet-19)")
    p.add_argument("--steps", type=int, default=10,
                   help="timed steps per row (small CNN at T=4; 4/T as many at larger T)")
    p.add_argument("--slow-steps", type=int, default=2, help="timed steps per row (ResNet-19)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (compiled rows compile here)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile rows")
    p.add_argument("--compile-T", nargs="*", type=int, default=[4], help="T values that get compiled rows")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-T", nargs="*", type=int, default=[2, 4, 8, 16])
    p.add_argument("--memory-T-resnet", nargs="*", type=int, default=[16])
    p.add_argument("--memory-batch", type=int, default=16)
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument("--out", default="benchmarks/results/step_time.json")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.T, args.steps, args.warmup, args.compile = ["small_cnn"], [4], 3, 1, False
        args.memory_T, args.memory_T_resnet = [2, 16], []
    tuned = tune_cpu_allocator()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, allocator tuned: {tuned}, "
          f"cpu: {platform.processor() or platform.machine()}, os.cpu_count {os.cpu_count()}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(steps: list[dict[str, Any]], memory: list[dict[str, Any]] | None = None, complete: bool = False) -> None:
        out.write_text(json.dumps({
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__,
                        "threads": args.threads, "cpu_count": os.cpu_count(), "allocator_tuned": tuned,
                        "load_avg": os.getloadavg()},
            "complete": complete, "args": vars(args), "step_time": steps, "peak_memory": memory or [],
        }, indent=2))

    memory = bench_memory(args) if args.memory else []  # first: quick, and kept if the run is cut short
    save([], memory)
    steps = bench_steps(args, lambda st: save(st, memory))
    save(steps, memory, complete=True)
    print_tables(steps, memory)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
