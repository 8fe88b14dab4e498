"""sadp report on small synthetic run directories (summary.json + metrics.jsonl written here)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sadp.cli.main import main
from sadp.experiments.report import build_report, load_runs, paired_comparison, seed_noise, summary_table

N, EPOCHS = 1000, 4


def write_run(root: Path, label: str, method: str, ratio: float, seed: int, acc: float, train_time: float,
              seen: int | None = None, curve: list[float] | None = None, cell_json: bool = True) -> Path:
    d = root / "runs" / f"{label}-r{ratio:g}-s{seed}"
    d.mkdir(parents=True)
    seen = seen if seen is not None else int(N * EPOCHS * (1 - ratio))
    curve = curve or [acc * (e + 1) / EPOCHS for e in range(EPOCHS)]
    summary = {
        "test_acc": acc, "best_test_acc": max(curve), "final_train_acc": min(1.0, acc + 0.2),
        "wall_time_s": train_time + 5, "train_time_s": train_time, "examples_seen": seen,
        "full_examples": N * EPOCHS, "theoretical_speedup": N * EPOCHS / seen, "epochs": EPOCHS,
        "num_train": N, "num_test": 200, "device": "cpu",
        "config": {"dataset": "digits", "model": "small_cnn", "method": method, "ratio": ratio, "seed": seed, "epochs": EPOCHS},
    }
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e + 1, "test_acc": a}) + "\n" for e, a in enumerate(curve)))
    if cell_json:
        (d / "cell.json").write_text(json.dumps({"id": d.name, "label": label, "method": method, "ratio": ratio, "seed": seed}))
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


def test_summary_table_statistics(sweep_dir: Path) -> None:
    runs, missing = load_runs(sweep_dir)
    assert len(runs) == 7 and missing == []
    table = summary_table(runs)
    assert table[0]["label"] == "full"  # full-data row first
    full = row(table, "full", 0.0)
    assert full["n"] == 2 and full["test_acc_mean"] == pytest.approx(0.82)
    assert full["test_acc_std"] == pytest.approx(math.sqrt(2) * 0.02)  # sample std of (0.80, 0.84)
    assert full["speedup_measured"] == pytest.approx(1.0) and full["speedup_theoretical"] == pytest.approx(1.0)
    rnd = row(table, "random_dynamic", 0.5)
    assert rnd["delta_vs_full"] == pytest.approx(0.73 - 0.82)
    # paired by seed: 100/50 = 2.0 and 110/60
    assert rnd["speedup_measured"] == pytest.approx((2.0 + 110 / 60) / 2)
    assert rnd["time_saved"] == pytest.approx((0.5 + (1 - 60 / 110)) / 2)
    assert rnd["speedup_theoretical"] == pytest.approx(2.0)
    sadp = row(table, "sadp", 0.5)
    assert sadp["speedup_theoretical"] == pytest.approx(1.6)
    assert sadp["efficiency"] == pytest.approx(sadp["speedup_measured"] / 1.6)
    single = row(table, "sadp", 0.3)
    assert single["n"] == 1 and math.isnan(single["test_acc_std"])  # one seed shows no spread


def test_paired_comparison_against_random(sweep_dir: Path) -> None:
    runs, _ = load_runs(sweep_dir)
    paired = paired_comparison(runs)
    assert [(p["label"], p["ratio"]) for p in paired] == [("sadp", 0.5)]  # r=0.3 has no random_dynamic
    p = paired[0]
    assert p["diffs"] == pytest.approx([0.02, -0.01])
    assert p["diff_mean"] == pytest.approx(0.005)
    assert (p["wins"], p["ties"], p["losses"]) == (1, 0, 1)
    sigma = seed_noise(runs)
    assert p["noise_threshold"] == pytest.approx(2 * sigma * math.sqrt(2 / 2))
    assert p["verdict"] == "within noise"


def test_build_report_writes_tables_plots_and_markdown(sweep_dir: Path, tmp_path: Path) -> None:
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "name": "synthetic", "command": ["sadp", "sweep", "spec.yaml", "--out", "x"],
        "cells": [{"id": "infobatch-r0.5-s0", "dir": "runs/infobatch-r0.5-s0"},
                  {"id": "full-r0-s0", "dir": "runs/full-r0-s0"}],
    }))
    out = tmp_path / "report"
    result = build_report(sweep_dir, out)
    assert result["missing"] == ["infobatch-r0.5-s0"]
    for name in result["files"]:
        assert (out / name).stat().st_size > 0, name
    for png in ("accuracy_vs_ratio.png", "time_vs_ratio.png", "test_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "# Results: synthetic" in md
    assert "sadp sweep spec.yaml --out x" in md
    assert "infobatch-r0.5-s0" in md  # incomplete cells are named, not silently dropped
    assert "82.0 ± 2.8 (n=2)" in md  # full row: mean ± std (n)
    assert "(n=1, no spread)" in md
    assert "| sadp | 0.5 | 2 | +0.50 |" in md  # paired diff in pp
    table = json.loads((out / "table.json").read_text())
    assert {r["label"] for r in table["table"]} == {"full", "random_dynamic", "sadp"}
    assert row(table["table"], "sadp", 0.3)["test_acc_std"] is None  # NaN -> null in JSON
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
    # Two dataset entries of one sweep: one report per dataset plus an index pairing each against
    # random_dynamic; the per-epoch selection diagnostics are summarised per method.
    for group, sadp_acc in (("a", (0.72, 0.75)), ("b", (0.60, 0.61))):
        root = tmp_path / "runs" / group
        root.mkdir(parents=True)
        write_run(root, "full", "full", 0.0, 0, 0.80, 100.0)
        write_run(root, "random_dynamic", "random_dynamic", 0.5, 0, 0.70, 50.0)
        write_run(root, "random_dynamic", "random_dynamic", 0.5, 1, 0.74, 50.0)
        for seed, acc in enumerate(sadp_acc):
            d = write_run(root, "sadp", "sadp", 0.5, seed, acc, 50.0)
            rows = [{"epoch": 1, "test_acc": 0.3, "selected": N},
                    {"epoch": 2, "selected": N // 2, "var_ratio_pred": 0.5 + seed, "weight_max": 4.0, "weight_q99": 2.0},
                    {"epoch": 3, "selected": N // 2, "var_ratio_pred": 0.7 + seed, "weight_max": 6.0, "weight_q99": 3.0},
                    {"epoch": 4, "test_acc": acc, "selected": N}]
            (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            s = json.loads((d / "summary.json").read_text())
            s.update(final_train_eval_acc=0.9, final_generalization_gap=0.9 - acc, never_drawn_pruned=0.1 * (seed + 1))
            (d / "summary.json").write_text(json.dumps(s))
        for seed, acc in enumerate((0.73, 0.77)):
            write_run(root, "sadp_mix", "sadp", 0.5, seed, acc if group == "a" else acc - 0.2, 50.0)
        for d in root.glob("runs/*"):
            info = json.loads((d / "cell.json").read_text())
            (d / "cell.json").write_text(json.dumps({**info, "group": group}))
    result = build_report(tmp_path, tmp_path / "rep", plots=True)
    assert (tmp_path / "rep" / "a" / "selection_diagnostics.png").exists()
    index = (tmp_path / "rep" / "report.md").read_text()
    assert "[report](a/report.md)" in index and "[report](b/report.md)" in index
    (pa,) = [p for p in result["paired"] if p["dataset"] == "a" and p["label"] == "sadp"]
    assert pa["diffs"] == pytest.approx([0.02, 0.01])
    (pb,) = [p for p in result["paired"] if p["dataset"] == "b" and p["label"] == "sadp"]
    assert pb["diffs"] == pytest.approx([-0.10, -0.13])
    # variants against the default sadp: per dataset and pooled over (dataset, seed) pairs
    from sadp.experiments.report import pooled_paired
    runs, _ = load_runs(tmp_path)
    pooled = pooled_paired(runs, ["a", "b"], "sadp_mix", 0.5, "sadp")
    assert pooled["n"] == 4 and pooled["diff_mean"] == pytest.approx((0.01 + 0.02 - 0.07 - 0.04) / 4)
    assert "## Variants against the default sadp" in index and "| sadp_mix | 0.5 | all datasets | 4 |" in index
    # exploratory pooled row: sadp minus random over all (dataset, seed) pairs: +2, +1, -10, -13 pp
    assert "| sadp | 4 | -5.00 |" in index
    assert "**sadp against random_dynamic at the same ratio (same examples seen):** better beyond noise:" in index
    report_a = (tmp_path / "rep" / "a" / "report.md").read_text()
    assert "## Selection diagnostics" in report_a
    import csv
    with open(tmp_path / "rep" / "a" / "diagnostics.csv") as f:
        diag = {r["label"]: r for r in csv.DictReader(f)}
    # var ratio: mean over pruned epochs per run (0.6, 1.6), then over seeds; max weight over the run
    assert float(diag["sadp"]["var_ratio_pred"]) == pytest.approx(1.1)
    assert float(diag["sadp"]["weight_max"]) == pytest.approx(6.0)
    assert float(diag["sadp"]["never_drawn_pruned"]) == pytest.approx(0.15)
    assert float(diag["sadp"]["generalization_gap"]) == pytest.approx(0.9 - 0.735)


def test_curves_with_skipped_evaluations_do_not_break_the_report(tmp_path: Path) -> None:
    d = write_run(tmp_path, "full", "full", 0.0, 0, 0.8, 10.0)
    (d / "metrics.jsonl").write_text(json.dumps({"epoch": 1}) + "\n" + json.dumps({"epoch": 2, "test_acc": 0.8}) + "\n")
    runs, _ = load_runs(tmp_path)
    assert math.isnan(runs[0].test_curve[0]) and runs[0].test_curve[1] == 0.8
    build_report(tmp_path, tmp_path / "rep", plots=True)
    assert (tmp_path / "rep" / "test_curves.png").exists()


def test_equal_examples_seen_interpolates_random_per_seed(tmp_path: Path) -> None:
    from sadp.experiments.report import equal_seen_comparison

    # random: r=0.5 -> 50% seen, acc 0.60; full -> 100%, acc 0.80. InfoBatch at 75% seen, acc 0.72:
    # random at 75% is 0.70, so InfoBatch is +2 pp at equal examples seen (not +12 at equal ratio).
    write_run(tmp_path, "full", "full", 0.0, 0, 0.80, 100.0)
    write_run(tmp_path, "random_dynamic", "random_dynamic", 0.5, 0, 0.60, 50.0)
    write_run(tmp_path, "infobatch", "infobatch", 0.5, 0, 0.72, 80.0, seen=int(0.75 * N * EPOCHS))
    write_run(tmp_path, "sadp", "sadp", 0.5, 0, 0.61, 50.0)
    runs, _ = load_runs(tmp_path)
    rows = {r["label"]: r for r in equal_seen_comparison(runs)}
    assert rows["infobatch"]["diff_mean"] == pytest.approx(0.02)
    assert rows["infobatch"]["examples_seen_fraction"] == pytest.approx(0.75)
    assert rows["sadp"]["diff_mean"] == pytest.approx(0.01)
    build_report(tmp_path, tmp_path / "rep", plots=False)
    assert "## Against random_dynamic at equal examples seen" in (tmp_path / "rep" / "report.md").read_text()


def test_seed_noise_pools_cells_within_each_dataset(tmp_path: Path) -> None:
    # Two datasets whose accuracies differ by 30 pp must not look like 30 pp of seed noise.
    runs = []
    for group, base in (("a", 0.9), ("b", 0.6)):
        for seed, acc in enumerate((base, base + 0.02)):
            d = write_run(tmp_path / group, "sadp", "sadp", 0.5, seed, acc, 10.0)
            info = json.loads((d / "cell.json").read_text())
            (d / "cell.json").write_text(json.dumps({**info, "group": group}))
    runs, _ = load_runs(tmp_path)
    assert seed_noise(runs) == pytest.approx(math.sqrt(0.02 ** 2 / 2))
