"""Paired accuracy comparisons the sltt-sgd report cannot make on its own (they need evidence-sgd's
BPTT runs of the same recipe and seeds): SLTT-1 with random dynamic pruning against BPTT's random
dynamic pruning, SLTT-1 alone and the matched short schedule. Accuracy only (the two sweeps ran on
different machines).

    python scripts/sltt_extra_pairs.py [SLTT_RUNS] [EVIDENCE_RUNS]
"""
from __future__ import annotations

import sys

from sadp.experiments.runs import Run, load_runs
from sadp.experiments.stats import paired_stats


def accuracy(runs: list[Run], label: str, ratio: float) -> dict[int, float]:
    """Seed -> final test accuracy (%) of the runs labelled ``label`` at ``ratio``."""
    return {r.seed: r.summary["test_acc"] * 100 for r in runs if r.label == label and r.ratio == ratio}


def main() -> None:
    sltt, _ = load_runs(sys.argv[1] if len(sys.argv) > 1 else "docs/results/sltt-sgd")
    evidence, _ = load_runs(sys.argv[2] if len(sys.argv) > 2 else "docs/results/evidence-sgd")
    combined = accuracy(sltt, "sltt1_random_dynamic", 0.5)
    pairs = [
        ("sltt1_random_dynamic r0.5 - random_dynamic r0.5 (BPTT)", combined, accuracy(evidence, "random_dynamic", 0.5)),
        ("sltt1_random_dynamic r0.5 - sltt1 (full data)", combined, accuracy(sltt, "sltt1", 0.0)),
        ("sltt1_random_dynamic r0.5 - full_short r0.5 (BPTT, 35 epochs)", combined,
         accuracy(evidence, "full_short", 0.5)),
        ("sltt1 - sltt", accuracy(sltt, "sltt1", 0.0), accuracy(sltt, "sltt", 0.0)),
    ]
    for name, a, b in pairs:
        seeds = sorted(set(a) & set(b))
        diffs = [a[s] - b[s] for s in seeds]
        st = paired_stats(diffs)
        print(f"{name}: n={st.n} mean {st.mean:+.2f} pp, 95% CI [{st.ci_low:+.2f}, {st.ci_high:+.2f}], "
              f"w/t/l {st.wins}/{st.ties}/{st.losses}; " + ", ".join(f"s{s}: {d:+.2f}" for s, d in zip(seeds, diffs)))


if __name__ == "__main__":
    main()
