"""sadp report on small synthetic run directories (summary.json + metrics.jsonl written here).

Expected numbers are worked by hand in the comments (t quantiles from tables), not recomputed
with the report's own formulas."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from sadp.cli.main import main
from sadp.experiments import report_plots
from sadp.experiments.report import (
    build_report,
    cost_of_pruning,
    equal_seen_comparison,
    load_runs,
    paired_comparison,
    plateau_check,
    pooled_paired,
    seed_noise,
    speedup_table,
    spike_awareness,
    spike_factor_per_epoch,
    spike_factor_table,
    summary_table,
    time_to_accuracy,
    tta_table,
    vs_short_schedule,
)
from sadp.experiments.stats import paired_stats

N, EPOCHS = 1000, 4
T_975 = {1: 12.7062, 2: 4.30265, 4: 2.77645}  # two-sided 95% t quantiles (table values) by degrees of freedom


def write_run(root: Path, label: str, method: str, ratio: float, seed: int, acc: float, train_time: float,
              seen: int | None = None, curve: list[float] | None = None, cell_json: bool = True,
              rows: list[dict[str, Any]] | None = None, group: str = "", **summary_extra: Any) -> Path:
    """A finished run. Default rows: EPOCHS epochs with equal shares of ``seen`` and ``train_time``
    (no CPU seconds: the older layout), test accuracy from ``curve`` every epoch."""
    d = root / "runs" / f"{label}-r{ratio:g}-s{seed}"
    d.mkdir(parents=True)
    seen = seen if seen is not None else int(N * EPOCHS * (1 - ratio))
    curve = curve or [acc * (e + 1) / EPOCHS for e in range(EPOCHS)]
    if rows is None:
        rows = [{"epoch": e + 1, "selected": seen / EPOCHS, "epoch_time_s": train_time / EPOCHS, "test_acc": a}
                for e, a in enumerate(curve)]
    summary = {
        "test_acc": acc, "best_test_acc": max(curve), "final_train_acc": min(1.0, acc + 0.2),
        "wall_time_s": train_time + 5, "train_time_s": train_time, "examples_seen": seen,
        "full_examples": N * EPOCHS, "theoretical_speedup": N * EPOCHS / seen, "epochs": EPOCHS,
        "num_train": N, "num_test": 200, "device": "cpu",
        "config": {"dataset": "digits", "model": "small_cnn", "method": method, "ratio": ratio, "seed": seed,
                   "epochs": EPOCHS},
        **summary_extra,
    }
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if cell_json:
        (d / "cell.json").write_text(json.dumps({"id": d.name, "label": label, "method": method, "ratio": ratio,
                                                 "seed": seed, **({"group": group} if group else {})}))
    return d


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    # full: 0.80 / 0.84 in 100 s / 110 s; random at r=0.5: 0.70 / 0.76 in 50 / 60 s;
    # sadp at r=0.5: 0.72 / 0.75 in 55 / 55 s (seen 2500: theoretical 1.6x); sadp at r=0.3, one seed.
    write_run(tmp_path, "full", "full", 0.0, 0, 0.80, 100.0)
    write_run(tmp_path, "full", "full", 0.0, 1, 0.84, 110.0)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.70, 50.0)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 1, 0.76, 60.0)
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.72, 55.0, seen=2500)
    write_run(tmp_path, "sadp", "sadp", 0.5, 1, 0.75, 55.0, seen=2500)
    write_run(tmp_path, "sadp", "sadp", 0.3, 0, 0.78, 75.0)
    return tmp_path


def row(table: list[dict], label: str, ratio: float) -> dict:
    (r,) = [r for r in table if r["label"] == label and r["ratio"] == ratio]
    return r


# -- paired statistics ---------------------------------------------------------------------------
def test_paired_stats_hand_worked_ci_and_tests() -> None:
    # d = 1, 2, 3: mean 2, s = 1, CI 2 ± t(0.975, 2) / sqrt(3) = 2 ± 2.484; 3 wins of 3: sign
    # p = 2 / 2^3 = 0.25; Wilcoxon (all ranks positive, exact) p = 2 / 2^3 = 0.25.
    s = paired_stats([1.0, 2.0, 3.0])
    assert s.n == 3 and s.mean == pytest.approx(2.0) and s.std == pytest.approx(1.0)
    assert s.ci_low == pytest.approx(2 - T_975[2] / math.sqrt(3), abs=1e-4)
    assert s.ci_high == pytest.approx(2 + 2.484, abs=1e-3)
    assert (s.wins, s.ties, s.losses) == (3, 0, 0)
    assert s.p_sign == pytest.approx(0.25) and s.p_wilcoxon == pytest.approx(0.25)
    # three wins out of three, but the CI includes 0: not evidence
    assert not s.evidence and s.verdict == "no evidence (CI includes 0)"


def test_paired_stats_evidence_ties_and_single_seed() -> None:
    # d = 1, 2, 3, 2, 2 pp: mean 2, s = sqrt(2 / 4) pp, half width 2.776 * 0.7071 / sqrt(5) = 0.878 pp
    s = paired_stats([0.01, 0.02, 0.03, 0.02, 0.02])
    assert s.ci_low == pytest.approx(0.02 - T_975[4] * math.sqrt(0.5) / math.sqrt(5) / 100, abs=1e-6)
    assert s.evidence and s.verdict == "better (CI excludes 0)"
    assert s.p_sign == pytest.approx(2 / 2 ** 5)  # 5 of 5: the smallest p 5 seeds allow
    worse = paired_stats([-0.01, -0.02, -0.03, -0.02, -0.02])
    assert worse.evidence and worse.verdict == "worse (CI excludes 0)"
    # a tie: equal accuracies (float noise rounded away) tie; sign test on 1 win vs 1 loss: p = 1
    tied = paired_stats([0.7 - 0.7, 0.01, -0.02])
    assert (tied.wins, tied.ties, tied.losses) == (1, 1, 1) and tied.p_sign == pytest.approx(1.0)
    one = paired_stats([0.05])
    assert math.isnan(one.ci_low) and not one.evidence and one.verdict == "CI undefined (n = 1)"
    assert math.isnan(paired_stats([0.0, 0.0]).p_sign)  # every pair ties: no test
    with pytest.raises(ValueError, match="at least one"):
        paired_stats([])


# -- tables --------------------------------------------------------------------------------------
def test_summary_table_statistics(sweep_dir: Path) -> None:
    runs, missing = load_runs(sweep_dir)
    assert len(runs) == 7 and missing == []
    table = summary_table(runs)
    assert table[0]["label"] == "full"  # full-data row first
    full = row(table, "full", 0.0)
    assert full["n"] == 2 and full["test_acc_mean"] == pytest.approx(0.82)
    assert full["test_acc_std"] == pytest.approx(math.sqrt(2) * 0.02)  # sample std of (0.80, 0.84)
    # 95% CI of (0.80, 0.84): 0.82 ± 12.706 * 0.02828 / sqrt(2) = 0.82 ± 0.2541
    assert full["test_acc_ci_high"] == pytest.approx(0.82 + 0.2541, abs=1e-4)
    assert full["speedup_measured"] == pytest.approx(1.0) and full["speedup_theoretical"] == pytest.approx(1.0)
    rnd = row(table, "random_dynamic", 0.5)
    assert rnd["delta_vs_full"] == pytest.approx(0.73 - 0.82)
    # paired by seed: 100/50 = 2.0 and 110/60; time relative to full: 0.5 and 60/110
    assert rnd["speedup_measured"] == pytest.approx((2.0 + 110 / 60) / 2)
    assert rnd["time_fraction_wall"] == pytest.approx((0.5 + 60 / 110) / 2)
    assert math.isnan(rnd["time_fraction_cpu"])  # these runs logged no CPU seconds
    assert rnd["time_saved"] == pytest.approx((0.5 + (1 - 60 / 110)) / 2)
    assert rnd["speedup_theoretical"] == pytest.approx(2.0)
    sadp = row(table, "sadp", 0.5)
    assert sadp["speedup_theoretical"] == pytest.approx(1.6)
    assert sadp["efficiency"] == pytest.approx(sadp["speedup_measured"] / 1.6)
    single = row(table, "sadp", 0.3)
    assert single["n"] == 1 and math.isnan(single["test_acc_std"]) and math.isnan(single["test_acc_ci_low"])


def test_paired_comparison_against_random_and_full(sweep_dir: Path) -> None:
    runs, _ = load_runs(sweep_dir)
    paired = paired_comparison(runs)
    assert [(p["label"], p["ratio"]) for p in paired] == [("sadp", 0.5)]  # r=0.3 has no random_dynamic
    p = paired[0]
    assert p["diffs"] == pytest.approx([0.02, -0.01]) and p["seeds"] == [0, 1]
    assert p["diff_mean"] == pytest.approx(0.005)
    assert (p["wins"], p["ties"], p["losses"]) == (1, 0, 1)
    assert not p["evidence"] and p["verdict"] == "no evidence (CI includes 0)"
    # cost of pruning: sadp r=0.5 minus full = -8, -9 pp: mean -8.5, s = 0.7071 pp,
    # CI -8.5 ± 12.706 * 0.7071 / sqrt(2) = -8.5 ± 6.353 pp: below 0, evidence of a loss
    cost = {(c["label"], c["ratio"]): c for c in cost_of_pruning(runs)}
    c = cost[("sadp", 0.5)]
    assert c["diffs"] == pytest.approx([-0.08, -0.09]) and c["baseline"] == "full data"
    assert c["ci_low"] == pytest.approx(-0.085 - 0.06353, abs=1e-4)
    assert c["ci_high"] == pytest.approx(-0.085 + 0.06353, abs=1e-4)
    assert c["evidence"] and c["verdict"] == "worse (CI excludes 0)"
    assert cost[("sadp", 0.3)]["verdict"] == "CI undefined (n = 1)"
    assert ("full", 0.0) not in cost


def test_unpaired_seeds_are_listed(tmp_path: Path) -> None:
    write_run(tmp_path, "full", "full", 0.0, 0, 0.80, 100.0)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.70, 50.0)
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.72, 50.0)
    write_run(tmp_path, "sadp", "sadp", 0.5, 1, 0.71, 50.0)  # no random_dynamic or full run with seed 1
    runs, _ = load_runs(tmp_path)
    (p,) = paired_comparison(runs)
    assert p["n"] == 1 and p["unpaired_seeds"] == [1]
    build_report(tmp_path, tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "(unpaired: 1)" in md and "undefined (n < 2)" in md


def test_equal_examples_seen_only_for_methods_with_their_own_examples(tmp_path: Path) -> None:
    # random: r=0.5 -> 50% seen, acc 0.60; full -> 100%, acc 0.80. InfoBatch at 75% seen, acc 0.72:
    # random at 75% is 0.70, so InfoBatch is +2 pp at equal examples seen (not +12 at equal ratio).
    write_run(tmp_path, "full", "full", 0.0, 0, 0.80, 100.0)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.60, 50.0)
    write_run(tmp_path, "infobatch", "infobatch", 0.5, 0, 0.72, 80.0, seen=int(0.75 * N * EPOCHS))
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.61, 50.0)  # same examples as random: same-ratio comparison only
    write_run(tmp_path, "orderdp", "orderdp", 0.5, 0, 0.50, 40.0, seen=int(0.4 * N * EPOCHS))  # below random's range
    runs, _ = load_runs(tmp_path)
    rows = {r["label"]: r for r in equal_seen_comparison(runs)}
    assert set(rows) == {"infobatch"}  # orderdp has no pair (outside the range): left out of the rows ...
    assert rows["infobatch"]["diff_mean"] == pytest.approx(0.02)
    assert rows["infobatch"]["examples_seen_fraction"] == pytest.approx(0.75)
    assert rows["infobatch"]["comparison"] == "equal examples seen"
    build_report(tmp_path, tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "### Against random_dynamic at equal examples seen" in md
    # ... but still compared at the same ratio and against full data
    assert "| orderdp | 0.5 | 1 | -10.00 |" in md and "| orderdp | 0.5 | 1 | -30.00 |" in md


# -- time-to-accuracy and speedup -------------------------------------------------------------------
def _rows(selected: list[int], times: list[float], cpu: list[float] | None, accs: dict[int, float],
          steps: list[int] | None = None, **extra: list[Any]) -> list[dict[str, Any]]:
    out = []
    for e, (k, t) in enumerate(zip(selected, times)):
        r: dict[str, Any] = {"epoch": e + 1, "selected": k, "epoch_time_s": t}
        if cpu:
            r["epoch_cpu_s"] = cpu[e]
        if steps:
            r["steps"] = steps[e]
        if e + 1 in accs:
            r["test_acc"] = accs[e + 1]
        for key, vals in extra.items():
            if vals[e] is not None:
                r[key] = vals[e]
        out.append(r)
    return out


@pytest.fixture
def timed_dir(tmp_path: Path) -> Path:
    """Six epochs, evaluated every 2. Full data (seed 0): 1000 examples and 10 s wall / 8 s CPU per
    epoch, final accuracy 0.60, so the target is 0.59. random_dynamic r=0.5 keeps 500 examples in
    epochs 2-5 (5 steps of 10), 6 s wall / 4 s CPU each."""
    write_run(tmp_path, "full", "full", 0.0, 0, 0.60, 60.0, seen=6000,
              rows=_rows([1000] * 6, [10] * 6, [8] * 6, {2: 0.30, 4: 0.595, 6: 0.60}, steps=[10] * 6))
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.62, 44.0, seen=4000,
              rows=_rows([1000, 500, 500, 500, 500, 1000], [10, 6, 6, 6, 6, 10], [8, 4, 4, 4, 4, 8],
                         {2: 0.40, 4: 0.59, 6: 0.62}, steps=[10, 5, 5, 5, 5, 10]))
    # never reaches 0.59
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.55, 44.0, seen=4000,
              rows=_rows([1000, 500, 500, 500, 500, 1000], [10, 6, 6, 6, 6, 10], [8, 4, 4, 4, 4, 8],
                         {2: 0.40, 4: 0.50, 6: 0.55}, steps=[10, 5, 5, 5, 5, 10]))
    # every epoch pruned (no full epoch of its own): reference = the full-data run of seed 0
    write_run(tmp_path, "infobatch", "infobatch", 0.5, 0, 0.61, 42.0, seen=4200,
              rows=_rows([700] * 6, [7] * 6, [6] * 6, {2: 0.5, 4: 0.6, 6: 0.61}, steps=[7] * 6))
    # a seed without a full-data run: no target
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 1, 0.61, 44.0, seen=4000,
              rows=_rows([1000, 500, 500, 500, 500, 1000], [10, 6, 6, 6, 6, 10], [8, 4, 4, 4, 4, 8],
                         {2: 0.40, 4: 0.59, 6: 0.61}, steps=[10, 5, 5, 5, 5, 10]))
    for d in (tmp_path / "runs").iterdir():  # six epochs, not EPOCHS
        s = json.loads((d / "summary.json").read_text())
        s.update(epochs=6, full_examples=6000, theoretical_speedup=6000 / s["examples_seen"])
        (d / "summary.json").write_text(json.dumps(s))
    return tmp_path


def test_time_to_accuracy_finds_the_first_evaluated_crossing(timed_dir: Path) -> None:
    runs, _ = load_runs(timed_dir)
    tta = {(t["label"], t["seed"]): t for t in time_to_accuracy(runs)}
    rnd = tta[("random_dynamic", 0)]
    # 0.59 at epoch 4 reaches 0.60 - 1 pp exactly: 1000 + 3 x 500 = 2500 examples, 10 + 3 x 6 = 28 s wall,
    # 8 + 3 x 4 = 20 s CPU; shares of the full run's 6000 examples, 60 s wall, 48 s CPU
    assert rnd["reached"] and rnd["epoch"] == 4 and rnd["target"] == pytest.approx(0.59)
    assert (rnd["examples"], rnd["wall_s"], rnd["cpu_s"]) == pytest.approx((2500, 28, 20))
    assert rnd["examples_fraction"] == pytest.approx(2500 / 6000) and rnd["cpu_fraction"] == pytest.approx(20 / 48)
    full = tta[("full", 0)]
    assert full["epoch"] == 4 and full["examples"] == pytest.approx(4000)  # 0.595 >= 0.59
    assert not tta[("sadp", 0)]["reached"] and tta[("sadp", 0)]["note"] == "never"
    assert math.isnan(tta[("random_dynamic", 1)]["target"]) and "no full-data run" in tta[("random_dynamic", 1)]["note"]
    summary = {(t["label"], t["ratio"]): t for t in tta_table(list(tta.values()))}
    rs = summary[("random_dynamic", 0.5)]
    assert (rs["n"], rs["reached"], rs["no_full_run"]) == (1, 1, 1)
    assert summary[("sadp", 0.5)]["reached"] == 0 and math.isnan(summary[("sadp", 0.5)]["wall_s_median"])


def test_speedup_efficiency_from_epoch_times(timed_dir: Path) -> None:
    # grad_bound: a slow first epoch (12 s, later full epoch 10 s): reference 11 s, tau 6 / 11, first epoch 1.2x
    write_run(timed_dir, "grad_bound", "grad_bound", 0.5, 0, 0.6, 46.0, seen=4000,
              rows=_rows([1000, 500, 500, 500, 500, 1000], [12, 6, 6, 6, 6, 10], None, {6: 0.6}))
    runs, _ = load_runs(timed_dir)
    rows = {(r["label"], r["ratio"]): r for r in speedup_table(runs)}
    rnd = rows[("random_dynamic", 0.5)]
    # pruned epochs: kept 0.5, 5 of 10 steps; wall 6 s against the run's full epochs' 10 s: tau 0.6,
    # efficiency 0.5 / 0.6, fixed share (0.6 - 0.5) / (1 - 0.5) = 0.2; CPU 4 s against 8 s: tau 0.5,
    # efficiency 1, fixed share 0. Two seeds with identical numbers: CI [0.6, 0.6].
    assert rnd["n_epoch"] == 2 and rnd["reference"] == "own full epochs"
    assert rnd["kept_fraction"] == pytest.approx(0.5) and rnd["step_fraction"] == pytest.approx(0.5)
    assert rnd["epoch_time_ratio_wall"] == pytest.approx(0.6)
    assert rnd["epoch_efficiency_wall"] == pytest.approx(0.5 / 0.6)
    assert rnd["fixed_share_wall"] == pytest.approx(0.2)
    assert rnd["epoch_time_ratio_cpu"] == pytest.approx(0.5) and rnd["epoch_efficiency_cpu"] == pytest.approx(1.0)
    assert rnd["fixed_share_cpu"] == pytest.approx(0.0)
    # whole run against full data, seed 0 only (seed 1 has none): 44 / 60 s wall, 32 / 48 s CPU;
    # run efficiency = (4000 / 6000) / (44 / 60)
    assert rnd["n_run_wall"] == 1 and rnd["run_time_ratio_wall"] == pytest.approx(44 / 60)
    assert rnd["run_time_ratio_cpu"] == pytest.approx(32 / 48)
    assert rnd["run_efficiency_wall"] == pytest.approx((4000 / 6000) / (44 / 60))
    assert rnd["first_epoch_ratio_wall"] == pytest.approx(1.0)
    gb = rows[("grad_bound", 0.5)]
    assert gb["epoch_time_ratio_wall"] == pytest.approx(6 / 11) and gb["first_epoch_ratio_wall"] == pytest.approx(1.2)
    assert math.isnan(gb["epoch_time_ratio_cpu"]) and math.isnan(gb["step_fraction"])  # not logged
    # InfoBatch has no full epoch of its own: 7 s against the full-data run's 10 s, kept 0.7
    ib = rows[("infobatch", 0.5)]
    assert ib["reference"] == "full-data run, same seed" and ib["epoch_time_ratio_wall"] == pytest.approx(0.7)
    assert ib["epoch_efficiency_wall"] == pytest.approx(1.0) and ib["step_fraction"] == pytest.approx(0.7)


def test_report_has_tta_speedup_and_csvs(timed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = build_report(timed_dir, out, plots=False)
    md = (out / "report.md").read_text()
    assert "## Time to accuracy" in md and "## Speedup against theory" in md
    assert "the fewest examples: **random_dynamic r=0.5**" in md  # 42% of the examples, full data 67%
    assert "sadp r=0.5 seed 0 (never)" in md
    assert "CPU = process CPU seconds" in md
    # whole-run speedup, seed 0: 60 / 44 s wall, 48 / 32 s CPU; theoretical 6000 / 4000
    assert "| 1.36x / 1.50x | 1.50x | 0.91 / 1.00 |" in md
    # CPU: random and sadp at tau = s = 0.5; InfoBatch 6 / 8 = 0.75 against s = 0.7: (0.75 - 0.7) / 0.3 = 17%
    assert "no fixed per-epoch part measurable) for: random_dynamic r=0.5, sadp r=0.5." in md
    assert "(cpu time): infobatch r=0.5 (17%)" in md
    assert "Time plots and shares use process CPU seconds" in md
    with open(out / "tta.csv") as f:
        tta = list(csv.DictReader(f))
    assert len(tta) == 5 and {"reached", "examples", "wall_s", "cpu_s"} <= set(tta[0])
    with open(out / "speedup.csv") as f:
        speed = {(r["label"], r["ratio"]): r for r in csv.DictReader(f)}
    assert float(speed[("random_dynamic", "0.5")]["epoch_efficiency_cpu"]) == pytest.approx(1.0)
    with open(out / "paired.csv") as f:
        paired = list(csv.DictReader(f))
    assert {"ci_low", "ci_high", "p_sign", "p_wilcoxon", "evidence", "comparison"} <= set(paired[0])
    assert {p["comparison"] for p in paired} >= {"same ratio", "cost of pruning", "equal examples seen"}
    assert {"tta.csv", "speedup.csv", "paired.csv"} <= set(result["files"])


# -- plateau check and spike factor ---------------------------------------------------------------------
def test_plateau_check(tmp_path: Path) -> None:
    # 10 epochs, evaluated every 5: the last 20% starts after epoch 8; the last evaluation at or before
    # it is epoch 5. Seed 0: 0.590 -> 0.598 (+0.8 pp, plateaued) at 97% training accuracy (fits);
    # seed 1: 0.55 -> 0.60 (+5 pp, not plateaued) at 90% (does not fit).
    for seed, (a5, a10, fit) in enumerate(((0.590, 0.598, 0.97), (0.55, 0.60, 0.90))):
        write_run(tmp_path, "full", "full", 0.0, seed, a10, 100.0, seen=10 * N,
                  rows=_rows([N] * 10, [10] * 10, None, {5: a5, 10: a10}), epochs=10,
                  final_train_eval_acc=fit)
    runs, _ = load_runs(tmp_path)
    p0, p1 = plateau_check(runs)
    assert p0["window_start_epoch"] == 5 and p0["gain"] == pytest.approx(0.008)
    assert (p0["fits"], p0["plateaued"], p1["fits"], p1["plateaued"]) == (True, True, False, False)
    build_report(tmp_path, tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert ">= 95% in 1 of 2 measured runs" in md and "< 1 pp over the last 20% of epochs in 1 of 2" in md


def test_spike_factor_table_and_sentence(tmp_path: Path) -> None:
    # 6 epochs, pruned 2-5 (4 epochs): CV 0.10, 0.08 (early half), 0.04, 0.02 (late half);
    # the full epochs (1, 6) carry other values that must not count.
    cv = [0.9, 0.10, 0.08, 0.04, 0.02, 0.9]
    silent = [0.5, 0.4, 0.2, 0.0, 0.0, 0.5]
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.6, 44.0, seen=4000,
              rows=_rows([1000, 500, 500, 500, 500, 1000], [10, 6, 6, 6, 6, 10], None, {6: 0.6},
                         spike_factor_cv=cv, head_silent_share=silent, spike_factor_mean=[1.5] * 6))
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.6, 44.0, seen=4000)
    runs, _ = load_runs(tmp_path)
    (s,) = spike_factor_table(runs)
    assert s["label"] == "sadp" and s["n"] == 1
    assert s["spike_factor_cv"] == pytest.approx(0.06)
    assert s["spike_factor_cv_early"] == pytest.approx(0.09) and s["spike_factor_cv_late"] == pytest.approx(0.03)
    assert s["head_silent_share_early"] == pytest.approx(0.3) and (s["cv_min"], s["cv_max"]) == (0.02, 0.10)
    build_report(tmp_path, tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## SADP's spike factor" in md
    assert "Where the CV is small, SADP's score cannot differ much from the ANN bound's (grad_bound)" in md
    assert "ranged from 0.020 to 0.100" in md


# -- the whole report ------------------------------------------------------------------------------
def _check_legends_outside(fig: Any) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends, "figure without a legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "legend overlaps an axes"


def test_build_report_writes_tables_plots_and_markdown(sweep_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "name": "synthetic", "command": ["sadp", "sweep", "spec.yaml", "--out", "x"],
        "cells": [{"id": "infobatch-r0.5-s0", "dir": "runs/infobatch-r0.5-s0"},
                  {"id": "full-r0-s0", "dir": "runs/full-r0-s0"}],
    }))
    saved = []
    original = report_plots._save_figure

    def checked_save(fig: Any, out: Path, name: str, dpi: int = 120) -> str:
        _check_legends_outside(fig)
        saved.append(name)
        return original(fig, out, name, dpi)

    monkeypatch.setattr(report_plots, "_save_figure", checked_save)
    out = tmp_path / "report"
    result = build_report(sweep_dir, out)
    assert result["missing"] == ["infobatch-r0.5-s0"]
    for name in result["files"]:
        assert (out / name).stat().st_size > 0, name
    expected = {"accuracy_vs_ratio.png", "time_vs_ratio.png", "test_curves.png", "learning_curves.png", "frontier.png"}
    assert expected <= set(saved)
    for png in expected:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "# Results: synthetic" in md
    assert "sadp sweep spec.yaml --out x" in md
    assert "infobatch-r0.5-s0" in md  # incomplete cells are named, not silently dropped
    assert "82.0 ± 2.8 (n=2)" in md  # full row: mean ± std (n)
    assert "(n=1, no spread)" in md
    assert "| sadp | 0.5 | 2 | +0.50 |" in md  # paired diff in pp
    assert "noise threshold" not in md  # the old verdict is gone
    assert ("**sadp against random_dynamic at the same ratio:** better (95% CI above 0): nowhere. Worse (CI below 0): "
            "nowhere. No evidence either way (CI includes 0): r=0.5 (+0.50 pp, CI [-18.56, +19.56], 1/0/1).") in md
    assert "Worse (CI below 0): r=0.5 (-8.50 pp, CI [-14.85, -2.15], 0/0/2)" in md  # cost of pruning, sadp
    table = json.loads((out / "table.json").read_text())
    assert {r["label"] for r in table["table"]} == {"full", "random_dynamic", "sadp"}
    assert row(table["table"], "sadp", 0.3)["test_acc_std"] is None  # NaN -> null in JSON
    assert table["time_basis"] == "wall"  # no CPU seconds in these rows
    csv_lines = (out / "table.csv").read_text().splitlines()
    assert csv_lines[0].startswith("label,method,ratio,n,seeds,test_acc_mean") and len(csv_lines) == 5


def test_runs_without_cell_json_grouped_by_config(tmp_path: Path) -> None:
    write_run(tmp_path, "full", "full", 0.0, 0, 0.9, 10.0, cell_json=False)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.3, 0, 0.85, 7.0, cell_json=False)
    runs, _ = load_runs(tmp_path)
    assert sorted((r.label, r.ratio) for r in runs) == [("full", 0.0), ("random_dynamic", 0.3)]


def test_report_cli(sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-report"
    assert main(["report", str(sweep_dir), "--out", str(out), "--no-plots"]) == 0
    assert (out / "report.md").exists() and not (out / "test_curves.png").exists()
    assert "4 rows" in capsys.readouterr().out


def test_report_on_empty_directory_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 1
    assert "no finished runs" in capsys.readouterr().err


def test_grouped_report_and_selection_diagnostics(tmp_path: Path) -> None:
    # Two dataset entries of one sweep, in the older layout (no CPU seconds): one report per dataset
    # plus an index pairing each against random_dynamic; selection diagnostics summarised per method.
    for group, sadp_acc in (("a", (0.72, 0.75)), ("b", (0.60, 0.61))):
        root = tmp_path / "runs" / group
        root.mkdir(parents=True)
        write_run(root, "full", "full", 0.0, 0, 0.80, 100.0, group=group)
        write_run(root, "random_dynamic", "random_dynamic", 0.5, 0, 0.70, 50.0, group=group)
        write_run(root, "random_dynamic", "random_dynamic", 0.5, 1, 0.74, 50.0, group=group)
        for seed, acc in enumerate(sadp_acc):
            rows = [{"epoch": 1, "test_acc": 0.3, "selected": N, "epoch_time_s": 20.0},
                    {"epoch": 2, "selected": N // 2, "var_ratio_pred": 0.5 + seed, "weight_max": 4.0, "weight_q99": 2.0,
                     "epoch_time_s": 5.0},
                    {"epoch": 3, "selected": N // 2, "var_ratio_pred": 0.7 + seed, "weight_max": 6.0, "weight_q99": 3.0,
                     "epoch_time_s": 5.0},
                    {"epoch": 4, "test_acc": acc, "selected": N, "epoch_time_s": 20.0}]
            write_run(root, "sadp", "sadp", 0.5, seed, acc, 50.0, rows=rows, group=group, final_train_eval_acc=0.9,
                      final_generalization_gap=0.9 - acc, never_drawn_pruned=0.1 * (seed + 1))
        for seed, acc in enumerate((0.73, 0.77)):
            write_run(root, "sadp_mix", "sadp", 0.5, seed, acc if group == "a" else acc - 0.2, 50.0, group=group)
    result = build_report(tmp_path, tmp_path / "rep", plots=False)
    index = (tmp_path / "rep" / "report.md").read_text()
    assert "[report](a/report.md)" in index and "[report](b/report.md)" in index
    (pa,) = [p for p in result["paired"] if p["dataset"] == "a" and p["label"] == "sadp"]
    assert pa["diffs"] == pytest.approx([0.02, 0.01])
    (pb,) = [p for p in result["paired"] if p["dataset"] == "b" and p["label"] == "sadp"]
    assert pb["diffs"] == pytest.approx([-0.10, -0.13])
    # variants against the default sadp: per dataset and pooled over (dataset, seed) pairs
    runs, _ = load_runs(tmp_path)
    pooled = pooled_paired(runs, ["a", "b"], "sadp_mix", 0.5, "sadp")
    assert pooled["n"] == 4 and pooled["diff_mean"] == pytest.approx((0.01 + 0.02 - 0.07 - 0.04) / 4)
    assert "## Variants against the default sadp" in index and "| sadp_mix | 0.5 | all datasets | 4 |" in index
    # exploratory pooled row: sadp minus random over all (dataset, seed) pairs: +2, +1, -10, -13 pp
    assert "| sadp | 4 | -5.00 |" in index
    # b: -10, -13 pp: mean -11.5, CI -11.5 ± 12.706 * 2.1213 / sqrt(2) = -11.5 ± 19.06: includes 0
    assert "**sadp against random_dynamic at the same ratio:** better (95% CI above 0): nowhere." in index
    assert "b r=0.5 (-11.50 pp, CI [-30.56, +7.56], 0/0/2)" in index
    report_a = (tmp_path / "rep" / "a" / "report.md").read_text()
    assert "## Selection diagnostics" in report_a
    assert "Wall time only: these runs did not log CPU seconds." in report_a
    # sadp's pruned epochs: 5 s against its own full epochs' 20 s, kept 0.5: efficiency 2 (wall)
    (speed,) = [s for s in result["speedup"] if s["dataset"] == "a" and s["label"] == "sadp"]
    assert speed["epoch_time_ratio_wall"] == pytest.approx(0.25)
    assert speed["epoch_efficiency_wall"] == pytest.approx(2.0)
    with open(tmp_path / "rep" / "a" / "diagnostics.csv") as f:
        diag = {r["label"]: r for r in csv.DictReader(f)}
    # var ratio: mean over pruned epochs per run (0.6, 1.6), then over seeds; max weight over the run
    assert float(diag["sadp"]["var_ratio_pred"]) == pytest.approx(1.1)
    assert float(diag["sadp"]["weight_max"]) == pytest.approx(6.0)
    assert float(diag["sadp"]["never_drawn_pruned"]) == pytest.approx(0.15)
    assert float(diag["sadp"]["generalization_gap"]) == pytest.approx(0.9 - 0.735)


def test_plots_from_older_runs_and_skipped_evaluations(tmp_path: Path) -> None:
    # The older layout: no CPU seconds; one run evaluated only at its last epoch.
    d = write_run(tmp_path, "full", "full", 0.0, 0, 0.8, 10.0)
    (d / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "selected": N, "epoch_time_s": 5.0}) + "\n" + json.dumps(
        {"epoch": 2, "test_acc": 0.8, "train_eval_acc": 0.9, "selected": N, "epoch_time_s": 5.0}) + "\n")
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.7, 6.0)
    runs, _ = load_runs(tmp_path)
    full = next(r for r in runs if r.method == "full")
    assert math.isnan(full.test_curve[0]) and full.test_curve[1] == 0.8
    result = build_report(tmp_path, tmp_path / "rep", plots=True)
    for name in ("test_curves.png", "frontier.png", "learning_curves.png", "selection_diagnostics.png"):
        assert name in result["files"] and (tmp_path / "rep" / name).exists()


def test_seed_noise_pools_cells_within_each_dataset(tmp_path: Path) -> None:
    # Two datasets whose accuracies differ by 30 pp must not look like 30 pp of seed noise.
    for group, base in (("a", 0.9), ("b", 0.6)):
        for seed, acc in enumerate((base, base + 0.02)):
            write_run(tmp_path / group, "sadp", "sadp", 0.5, seed, acc, 10.0, group=group)
    runs, _ = load_runs(tmp_path)
    assert seed_noise(runs) == pytest.approx(math.sqrt(0.02 ** 2 / 2))


def test_min_seeds_holds_back_thin_cells(sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # sweep_dir: full, random r=0.5 and sadp r=0.5 have seeds 0 and 1; sadp r=0.3 only seed 0.
    result = build_report(sweep_dir, tmp_path / "rep", plots=False, min_seeds=2)
    assert sorted((r["label"], r["ratio"]) for r in result["table"]) == [
        ("full", 0.0), ("random_dynamic", 0.5), ("sadp", 0.5)]
    assert result["held_back"] == ["sadp r=0.3: 1 of 2 seeds (s0)"]
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "**Held back: 1 cell(s) with fewer than 2 seeds are not reported" in text
    assert "| sadp | 0.3 |" not in text
    # the default reports every cell, the one-seed one included
    every = build_report(sweep_dir, tmp_path / "all", plots=False)["table"]
    assert ("sadp", 0.3) in {(r["label"], r["ratio"]) for r in every}
    assert main(["report", str(sweep_dir), "--out", str(tmp_path / "cli"), "--no-plots", "--min-seeds", "2"]) == 0
    assert "3 rows, 0 missing cell(s), 1 held back" in capsys.readouterr().out
    # no cell has 3 seeds: a one-line error, nothing reported
    assert main(["report", str(sweep_dir), "--out", str(tmp_path / "none"), "--no-plots", "--min-seeds", "3"]) == 1
    assert "no cell below" in capsys.readouterr().err and not (tmp_path / "none" / "report.md").exists()


def test_min_seeds_in_a_grouped_report(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "cifar10"
    root.mkdir(parents=True)
    for seed in (0, 1):
        write_run(root, "full", "full", 0.0, seed, 0.80 + seed / 100, 100.0, group="cifar10")
        write_run(root, "random_dynamic", "random_dynamic", 0.5, seed, 0.70, 50.0, group="cifar10")
    write_run(root, "seta", "seta", 0.5, 0, 0.75, 50.0, group="cifar10")
    result = build_report(tmp_path, tmp_path / "rep", plots=False, min_seeds=2)
    assert result["held_back"] == ["cifar10/seta r=0.5: 1 of 2 seeds (s0)"]
    assert "seta" not in {p["label"] for p in result["paired"] + result["cost"]}
    for page in ("report.md", "cifar10/report.md"):
        assert "cifar10/seta r=0.5: 1 of 2 seeds (s0)" in (tmp_path / "rep" / page).read_text()


def test_machines_line_warns_when_times_mix_machines(tmp_path: Path) -> None:
    a = {"cpu": "CPU A", "logical_cores": 2, "torch_threads": 1, "torch": "2"}
    write_run(tmp_path, "full", "full", 0.0, 0, 0.8, 100.0, machine=a)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.7, 50.0, machine=a)
    build_report(tmp_path, tmp_path / "one", plots=False)
    assert ("Times: all 2 runs on one machine (CPU A, 2 cores, 1 torch thread(s))."
            in (tmp_path / "one" / "report.md").read_text())
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.7, 20.0)  # an older run: no machine recorded
    build_report(tmp_path, tmp_path / "two", plots=False)
    text = (tmp_path / "two" / "report.md").read_text()
    assert ("**Times come from 2 machines** (2 run(s): CPU A, 2 cores, 1 torch thread(s); "
            "1 run(s): machine not recorded)") in text


# -- evidence v3: short schedules, spike-awareness, machines --------------------------------------
def _short(root: Path, seed: int, acc: float) -> None:
    """Full data on a 2-epoch schedule matched to random_dynamic at r = 0.5 (of EPOCHS = 4)."""
    d = write_run(root, "full_short", "full", 0.5, seed, acc, 50.0, seen=2 * N, epochs=2)
    (d / "cell.json").write_text(json.dumps({"id": d.name, "label": "full_short", "method": "full", "ratio": 0.5,
                                             "seed": seed, "matched_to": "random_dynamic", "reference_epochs": EPOCHS,
                                             "epochs": 2}))


def test_training_less_spike_awareness_and_per_epoch_spike_factor(tmp_path: Path) -> None:
    cv_rows = lambda cvs: [{"epoch": e + 1, "selected": 500 if e else N, "epoch_time_s": 10.0, "spike_factor_cv": cv,  # noqa: E731
                            "head_silent_share": 0.1 * e, "test_acc": 0.7} for e, cv in enumerate(cvs)]
    for seed, (full, rnd, short, sadp, ann) in enumerate([(0.80, 0.70, 0.71, 0.72, 0.73),
                                                          (0.84, 0.76, 0.74, 0.76, 0.73)]):
        write_run(tmp_path, "full", "full", 0.0, seed, full, 100.0)
        write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, seed, rnd, 50.0)
        write_run(tmp_path, "sadp", "sadp", 0.5, seed, sadp, 50.0, rows=cv_rows([0.5, 0.4, 0.3 + 0.1 * seed, 0.2]))
        write_run(tmp_path, "grad_bound", "grad_bound", 0.5, seed, ann, 50.0)
        _short(tmp_path, seed, short)
    runs, _ = load_runs(tmp_path)
    short_rows = {r["label"]: r for r in vs_short_schedule(runs)}
    assert set(short_rows) == {"random_dynamic", "sadp", "grad_bound"}  # every pruning cell, never the full ones
    rd = short_rows["random_dynamic"]  # 0.70 - 0.71, 0.76 - 0.74
    assert rd["comparison"] == "pruning vs training less" and rd["baseline"] == "full_short r=0.5"
    assert rd["diffs"] == pytest.approx([-0.01, 0.02]) and (rd["wins"], rd["losses"]) == (1, 1)
    assert short_rows["sadp"]["diffs"] == pytest.approx([0.01, 0.02])
    (aware,) = spike_awareness(runs)  # sadp - grad_bound: -0.01, +0.03
    assert aware["label"] == "sadp" and aware["baseline"] == "grad_bound"
    assert aware["diffs"] == pytest.approx([-0.01, 0.03])
    # The short schedule is not the full-data reference: its own row, paired against full data as a cost.
    table = summary_table(runs)
    assert [r["label"] for r in table if r["reference_full"]] == ["full"]
    s = row(table, "full_short", 0.5)
    assert s["matched_to"] == "random_dynamic"
    assert s["speedup_theoretical"] == pytest.approx(2.0)  # 4,000 / 2,000 examples
    cost = {r["label"]: r for r in cost_of_pruning(runs)}
    assert cost["full_short"]["diffs"] == pytest.approx([-0.09, -0.10])
    assert all(p["label"] != "full_short" for p in paired_comparison(runs))
    tta = {t["label"]: t for t in tta_table(time_to_accuracy(runs))}
    assert tta["full"]["reference_full"] and not tta["full_short"]["reference_full"]  # never named "full data"
    # Per-epoch spike factor: mean over the two seeds; epoch 1 trained on full data (marked not pruned).
    per_epoch = [p for p in spike_factor_per_epoch(runs) if p["label"] == "sadp"]
    assert [p["spike_factor_cv"] for p in per_epoch] == pytest.approx([0.5, 0.4, 0.35, 0.2])
    assert [p["pruned"] for p in per_epoch] == [False, True, True, True]
    result = build_report(tmp_path, tmp_path / "rep", plots=False)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "### Pruning vs training less (full data on a matched short schedule)" in md
    assert "full_short r=0.5: 2 of 4 epochs, matched to random_dynamic" in md
    assert "**sadp against the ANN bound (grad_bound) at the same ratio (does spike-awareness pay?):**" in md
    assert "| 1 | 0.500 (0.0)* |\n| 2 | 0.400 (10.0) |\n| 3 | 0.350 (20.0) |" in md  # CV (silent %), * a full epoch
    saved = json.loads((tmp_path / "rep" / "table.json").read_text())
    assert len(saved["training_less"]) == 3 and len(saved["spike_awareness"]) == 1
    assert result["missing"] == []


def test_time_shares_only_pair_runs_from_one_machine(tmp_path: Path) -> None:
    a, b = {"cpu": "AMD EPYC", "logical_cores": 2}, {"cpu": "Intel Xeon", "logical_cores": 2}
    for seed in (0, 1):
        write_run(tmp_path, "full", "full", 0.0, seed, 0.80, 100.0, machine=a)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.80, 60.0, machine=b)  # another machine
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 1, 0.80, 50.0, machine=a)
    runs, _ = load_runs(tmp_path)
    r = row(summary_table(runs), "random_dynamic", 0.5)
    assert r["time_fraction_wall"] == pytest.approx(0.5)  # seed 1 only: 50 / 100
    tta = {t["seed"]: t for t in time_to_accuracy(runs) if t["label"] == "random_dynamic"}
    # target 0.79 reached at epoch 4: 50 / 100 s
    assert tta[1]["reached"] and tta[1]["wall_fraction"] == pytest.approx(0.5)
    assert tta[0]["reached"] and math.isnan(tta[0]["wall_fraction"]) and "another machine" in tta[0]["note"]


def test_full_data_variants_under_their_own_label_pair_against_full(tmp_path: Path) -> None:
    """An SLTT cell is full data (method full, ratio 0) under its own label: compared with the
    run labelled full, never taken for it."""
    for seed, (bptt, sltt) in enumerate([(0.80, 0.78), (0.84, 0.81), (0.82, 0.82)]):
        write_run(tmp_path, "full", "full", 0.0, seed, bptt, 100.0)
        write_run(tmp_path, "sltt1", "full", 0.0, seed, sltt, 70.0)
    runs, _ = load_runs(tmp_path)
    assert {r.seed: r.label for r in runs if r.is_reference_full} == {0: "full", 1: "full", 2: "full"}
    (cost,) = cost_of_pruning(runs)
    assert cost["label"] == "sltt1" and cost["diffs"] == pytest.approx([-0.02, -0.03, 0.0])
    assert row(summary_table(runs), "sltt1", 0.0)["time_fraction_wall"] == pytest.approx(0.7)
