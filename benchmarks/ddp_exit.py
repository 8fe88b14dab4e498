"""How often does a user's own DDP loop end cleanly? Runs ``examples/ddp_plain_loop.py`` under
torchrun (2 gloo processes on CPU) ``--runs`` times and counts clean exits: torchrun returned 0
and rank 0's result file was written.

    python benchmarks/ddp_exit.py              # 20 runs (about 15 s each on 2 busy cores)
    python benchmarks/ddp_exit.py --runs 5

Prints one line per run and the count, and writes ``benchmarks/results/ddp_exit.json`` (each
run's return code, seconds and the last lines of its output when it failed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_plain_loop.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(epochs: int, subset: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(EXAMPLE), "--epochs", str(epochs), "--subset", str(subset),
               "--out", str(out)]
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
            [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
        start = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            code, text = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            code, text = -1, f"timed out after {timeout} s: {e}"
        written = out.exists() and "test_acc" in json.loads(out.read_text())
    run = {"returncode": code, "result_written": written, "clean": code == 0 and written,
           "seconds": round(time.perf_counter() - start, 1)}
    if not run["clean"]:
        run["output_tail"] = text[-2000:]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ddp_exit.json")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.epochs, args.subset, args.timeout))
        r = runs[-1]
        print(f"run {i + 1:2d}: {'clean' if r['clean'] else 'FAILED'} (torchrun returned {r['returncode']}, "
              f"{r['seconds']} s)", flush=True)
    clean = sum(r["clean"] for r in runs)
    print(f"clean exits: {clean} of {len(runs)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "clean": clean, "runs": len(runs), "per_run": runs,
        "args": {"epochs": args.epochs, "subset": args.subset, "nproc_per_node": 2, "backend": "gloo"},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
