"""sadp sweep: the grid, skipping finished cells, resuming interrupted ones, failures, threads.

Fast tests replace the training process by a tiny Python script (FakeLauncher); the slow test
runs real `python -m sadp train` cells on the embedded digits.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from sadp.cli.main import main
from sadp.experiments.sweep import Sweep
from sadp.experiments.sweep_cells import cell_state, select_cells
from sadp.experiments.sweep_spec import Launcher, SweepSpec, resolve_data_dir, short_schedule_epochs

SPEC = {
    "name": "t",
    "methods": ["full", "random_dynamic",
                {"name": "sadp_floor", "method": "sadp", "method_options": {"floor": 0.2}, "lr": 0.01}],
    "ratios": [0.3, 0.5],
    "seeds": [0, 1],
    "settings": {"dataset": "digits", "epochs": 2, "subset": 200},
    "method_options": {"random_dynamic": {"anneal": 0.0}},
}

# Stands in for `python -m sadp train --config CELL.yaml [--resume]`: records how it was called,
# fails for cells whose method is "boom", else writes the train contract's files.
FAKE_TRAIN = r"""
import json, os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
out = cfg["out"]
calls = os.path.join(out, "calls.jsonl")
with open(calls, "a") as f:
    f.write(json.dumps({"resume": "--resume" in sys.argv, "threads": os.environ.get("OMP_NUM_THREADS")}) + "\n")
if cfg["method"] == "boom":
    sys.exit("boom: this cell fails")
rows = [{"epoch": e + 1, "test_acc": 0.5, "selected": 10} for e in range(cfg["epochs"])]
open(os.path.join(out, "metrics.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
json.dump({"test_acc": 0.5, "final_train_acc": 0.6, "config": cfg}, open(os.path.join(out, "summary.json"), "w"))
"""


class FakeLauncher(Launcher):
    def command(self, config_path: Path, resume: bool) -> list[str]:
        return [sys.executable, "-c", FAKE_TRAIN, str(config_path)] + (["--resume"] if resume else [])


def calls(cell_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (cell_dir / "calls.jsonl").read_text().splitlines()]


def test_grid_runs_full_once_per_seed() -> None:
    cells = SweepSpec.from_dict(SPEC).cells("/tmp/out")
    # per seed: full once, two pruning methods x 2 ratios
    assert len(cells) == 2 * (1 + 2 * 2)
    ids = {c.id for c in cells}
    assert {"full-r0-s0", "full-r0-s1", "random_dynamic-r0.3-s1", "sadp_floor-r0.5-s0"} <= ids
    variant = next(c for c in cells if c.id == "sadp_floor-r0.5-s0")
    assert variant.method == "sadp" and variant.config["method"] == "sadp"
    assert variant.config["method_options"] == {"floor": 0.2} and variant.config["lr"] == 0.01
    rnd = next(c for c in cells if c.id == "random_dynamic-r0.3-s1")
    assert rnd.config["method_options"] == {"anneal": 0.0} and rnd.config["seed"] == 1 and rnd.config["ratio"] == 0.3
    assert rnd.config["out"] == str(Path("/tmp/out/runs/random_dynamic-r0.3-s1"))
    assert rnd.config["subset"] == 200  # shared settings reach every cell


@pytest.mark.parametrize("bad, message", [
    ({"settings": {"epochs": 2, "seed": 3}}, "must not set"),
    ({"settings": {"epoch": 2}}, "unknown config keys"),
    ({"seeds": []}, "non-empty 'seeds'"),
    ({"ratios": []}, "non-empty 'ratios'"),
    ({"grid": 1}, "unknown sweep spec keys"),
    ({"ratios": [1.5]}, "ratio must be in"),
])
def test_invalid_specs_fail_before_running(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepSpec.from_dict({**SPEC, **bad}).cells("/tmp/out")


@pytest.mark.parametrize("change, message", [
    # sadp has no option eps (its floor is called floor): caught when the spec is parsed.
    ({"methods": [{"name": "sadp_eps", "method": "sadp", "method_options": {"eps": 0.2}}]},
     r"cell sadp_eps-r0.3-s0: pruning method 'sadp' got unknown option\(s\) \['eps'\]; valid options: .*floor"),
    ({"method_options": {"sadp": {"floor": 2.0}}, "methods": ["sadp"]}, r"cell sadp-r0.3-s0: .*floor"),
    ({"methods": [{"name": "s", "method": "seta", "method_options": {"groups": 0}}]}, r"cell s-r0.3-s0: .*groups"),
    # OrderDP's split must multiply to 1 - r at every ratio of the grid: rho_q = 0.6 < 1 - 0.3.
    ({"methods": [{"name": "o", "method": "orderdp", "method_options": {"rho_q": 0.6}}]}, r"cell o-r0.3-s0: .*rho_q"),
])
def test_invalid_method_options_fail_when_the_spec_is_parsed(change: dict, message: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict({**SPEC, **change})
    with pytest.raises(ValueError, match=message):
        spec.cells("/tmp/out")
    with pytest.raises(ValueError, match=message):
        Sweep(spec, tmp_path / "o", launcher=FakeLauncher())  # what `sadp sweep` (and --dry-run) builds
    assert not (tmp_path / "o").exists()


def test_dry_run_rejects_an_invalid_method_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    methods = [{"name": "sadp_eps", "method": "sadp", "method_options": {"eps": 0.2}}]
    spec.write_text(yaml.safe_dump({**SPEC, "methods": methods}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run"]) != 0
    assert "unknown option" in capsys.readouterr().err


def test_unknown_method_is_rejected(tmp_path: Path) -> None:
    spec = SweepSpec.from_dict({**SPEC, "methods": ["full", "no_such_method"]})
    with pytest.raises(ValueError, match="no_such_method"):
        Sweep(spec, tmp_path)


def test_data_dir_reads_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "cifar10"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir("${CIFAR10_DIR}") == str(tmp_path / "cifar10")
    assert resolve_data_dir("$CIFAR10_DIR/sub") == str(tmp_path / "cifar10" / "sub")
    assert resolve_data_dir("~/data") == str(tmp_path / "home" / "data")
    assert resolve_data_dir("/data/x") == "/data/x"
    spec = SweepSpec.from_dict({**SPEC, "settings": {"dataset": "imagefolder", "data_dir": "${CIFAR10_DIR}"}})
    assert {c.config["data_dir"] for c in spec.cells("/tmp/out")} == {str(tmp_path / "cifar10")}


def test_unset_data_dir_variable_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NO_SUCH_DIR", raising=False)
    spec = SweepSpec.from_dict({**SPEC, "settings": {"dataset": "imagefolder", "data_dir": "${NO_SUCH_DIR}"}})
    with pytest.raises(ValueError, match="environment variable NO_SUCH_DIR, which is not set; set NO_SUCH_DIR to "
                                         "the folder of dataset 'imagefolder'") as e:
        Sweep(spec, tmp_path / "sweep")
    assert "\n" not in str(e.value) and not (tmp_path / "sweep").exists()


def fake_sweep(tmp_path: Path, methods: list, jobs: int = 2, cores: int = 4) -> Sweep:
    spec = SweepSpec.from_dict({**SPEC, "methods": methods, "ratios": [0.5], "seeds": [0]})
    lines: list[str] = []
    sweep = Sweep(spec, tmp_path / "sweep", jobs=jobs, launcher=FakeLauncher(), cores=cores,
                  echo=lines.append, poll_s=0.01)
    sweep.lines = lines  # type: ignore[attr-defined]
    return sweep


def test_skip_finished_resume_partial_and_report_failures(tmp_path: Path) -> None:
    methods = ["full", "random_dynamic", {"name": "broken", "method": "full", "model": "x"}]
    sweep = fake_sweep(tmp_path, methods)
    cells = {c.id: c for c in sweep.cells}
    broken = cells["broken-r0-s0"]
    broken.config["method"] = "boom"  # the fake trainer fails this one
    status = sweep.run()
    assert status == {"full-r0-s0": "done", "random_dynamic-r0.5-s0": "done", "broken-r0-s0": "failed"}
    assert any("FAILED broken-r0-s0" in line and "exit code 1" in line for line in sweep.lines)
    assert any("boom: this cell fails" in line for line in sweep.lines)  # the log's tail is shown
    assert calls(cells["full-r0-s0"].out) == [{"resume": False, "threads": "2"}]  # 4 cores / 2 jobs
    info = json.loads((sweep.out / "sweep.json").read_text())
    assert {c["id"]: c["status"] for c in info["cells"]}["broken-r0-s0"] == "failed"

    # Second run: the finished cells are skipped; a cell interrupted after a checkpoint is resumed.
    (cells["random_dynamic-r0.5-s0"].out / "summary.json").unlink()
    (cells["random_dynamic-r0.5-s0"].out / "checkpoint.pt").write_bytes(b"")
    assert cell_state(cells["random_dynamic-r0.5-s0"]) == "partial"
    again = fake_sweep(tmp_path, methods, jobs=1, cores=4)
    next(c for c in again.cells if c.id == "broken-r0-s0").config["method"] = "boom"
    status = again.run()
    assert status["full-r0-s0"] == "skipped" and status["random_dynamic-r0.5-s0"] == "done"
    assert len(calls(cells["full-r0-s0"].out)) == 1  # not started again
    assert calls(cells["random_dynamic-r0.5-s0"].out)[-1] == {"resume": True, "threads": "4"}
    assert "cells, 1 already done, 2 to run" in again.lines[0]


def test_torchrun_launcher_command() -> None:
    cmd = Launcher("torchrun", 2).command(Path("c.yaml"), resume=True)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert cmd[5:8] == ["-m", "sadp", "train"] and cmd[-1] == "--resume"
    assert Launcher("torchrun", 2).processes == 2
    with pytest.raises(ValueError, match="launcher must be"):
        Launcher("mpirun").command(Path("c.yaml"), False)


def test_dry_run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "methods": ["full"], "seeds": [0, 1, 2]}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("start ") == 3 and "full-r0-s2" in out and "3 cells" in out
    assert not (tmp_path / "o").exists()  # a dry run writes nothing


def test_shipped_specs_parse() -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    specs = sorted(root.glob("*.yaml"))
    assert {p.name for p in specs} >= {"cifar10-cpu.yaml", "cifar10-resnet19.yaml", "imagenet-sew34.yaml"}
    for p in specs:
        cells = SweepSpec.load(p).cells("/tmp/out", resolve_data=False)
        assert cells, p
    cpu = SweepSpec.load(root / "cifar10-cpu.yaml").cells("/tmp/out", resolve_data=False)
    assert len(cpu) == 14  # full x 2 seeds + 3 methods x 2 ratios x 2 seeds


@pytest.mark.slow
def test_real_sweep_with_seta_and_orderdp_and_report(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "baselines", "methods": ["seta", "orderdp"], "ratios": [0.5], "seeds": [0],
                                    "settings": {"dataset": "digits", "epochs": 2, "subset": 200, "batch_size": 50,
                                                 "model": "mlp"}}))
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    for cell, per_epoch in (("seta-r0.5-s0", None), ("orderdp-r0.5-s0", [99, 99])):
        summary = json.loads((out / "runs" / cell / "summary.json").read_text())
        rows = [json.loads(line) for line in (out / "runs" / cell / "metrics.jsonl").read_text().splitlines()]
        assert summary["examples_seen"] == sum(r["selected"] for r in rows)
        if per_epoch:  # q = floor(0.7071 * floor(0.7071 * 200)) = 99
            assert [r["selected"] for r in rows] == per_epoch
        else:  # K = 100 in epoch 0, then the window's share (annealing starts at epoch 2 of 2: none)
            assert rows[0]["selected"] == 100 and rows[1]["selected"] <= 100
    assert main(["report", str(out)]) == 0
    report = (out / "report" / "report.md").read_text()
    assert "seta" in report and "orderdp" in report


@pytest.mark.slow
def test_real_sweep_on_digits_skips_and_resumes(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "digits", "methods": ["full"], "seeds": [0, 1],
                                    "settings": {"dataset": "digits", "epochs": 2, "subset": 200, "batch_size": 50}}))
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "2"]) == 0
    s0, s1 = out / "runs" / "full-r0-s0", out / "runs" / "full-r0-s1"
    for d in (s0, s1):
        summary = json.loads((d / "summary.json").read_text())
        assert summary["epochs"] == 2 and summary["num_train"] == 200
        assert len((d / "metrics.jsonl").read_text().splitlines()) == 2
    first = (s0 / "summary.json").stat().st_mtime_ns
    # Interrupt seed 1 after its last checkpoint: no summary, a checkpoint to resume from.
    (s1 / "summary.json").unlink()
    assert main(["sweep", str(spec), "--out", str(out)]) == 0
    assert (s0 / "summary.json").stat().st_mtime_ns == first  # finished cell skipped
    assert "resumed from" in (s1 / "train.log").read_text()
    assert json.loads((s1 / "summary.json").read_text())["examples_seen"] == 400
    assert main(["report", str(out)]) == 0
    assert "full" in (out / "report" / "report.md").read_text()


def test_dataset_entries_and_per_method_ratios() -> None:
    spec = SweepSpec.from_dict({
        "name": "ev", "seeds": [0, 1], "ratios": [0.3, 0.7],
        "methods": ["full", "sadp",
                    {"name": "sadp_mix", "method": "sadp", "method_options": {"mix": 0.5}, "ratios": [0.5]}],
        "settings": {"epochs": 2},
        "datasets": [{"name": "a", "settings": {"dataset": "digits", "subset": 100}},
                     {"name": "b", "settings": {"dataset": "digits", "epochs": 3}, "methods": ["full", "sadp"],
                      "ratios": [0.3]}],
    })
    cells = spec.cells("/tmp/out")
    ids = [c.id for c in cells]
    # entry a: per seed full + sadp x 2 ratios + the variant at its own ratio only
    assert [i for i in ids if i.startswith("a/")] == [
        "a/full-r0-s0", "a/sadp-r0.3-s0", "a/sadp-r0.7-s0", "a/sadp_mix-r0.5-s0",
        "a/full-r0-s1", "a/sadp-r0.3-s1", "a/sadp-r0.7-s1", "a/sadp_mix-r0.5-s1"]
    # entry b: only its methods, at its ratios, with its settings over the shared ones
    assert [i for i in ids if i.startswith("b/")] == [
        "b/full-r0-s0", "b/sadp-r0.3-s0", "b/full-r0-s1", "b/sadp-r0.3-s1"]
    b = next(c for c in cells if c.id == "b/sadp-r0.3-s1")
    assert b.config["epochs"] == 3 and b.config["out"] == "/tmp/out/runs/b/sadp-r0.3-s1" and b.info()["group"] == "b"
    a = next(c for c in cells if c.id == "a/sadp_mix-r0.5-s0")
    assert a.config["subset"] == 100 and a.config["epochs"] == 2 and a.config["method_options"] == {"mix": 0.5}


@pytest.mark.parametrize("entry, message", [
    ({"settings": {}}, "name required"),
    ({"name": "x", "methods": ["nope"]}, "unknown methods"),
    ({"name": "x", "colour": 1}, "name required"),
])
def test_bad_dataset_entries_are_rejected(entry: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepSpec.from_dict({**SPEC, "datasets": [entry]})


def test_evidence_spec_grid() -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    cells = SweepSpec.load(root / "evidence.yaml").cells("/tmp/out", resolve_data=False)
    groups = {c.group for c in cells}
    assert groups == {"digits", "digits_dvs", "cifar10"}
    # per dataset and seed: full + 4 methods x 3 ratios + 6 variants at r = 0.5
    assert len(cells) == 3 * 3 * (1 + 4 * 3 + 6)
    assert {c.ratio for c in cells if c.label.startswith("sadp_")} == {0.5}
    cifar = [c.config for c in cells if c.group == "cifar10"]
    assert all(c["data_dir"] == "${CIFAR10_DIR}" and c["dataset_options"] == {"per_class": 100} for c in cifar)


def test_only_runs_selected_cells_in_pattern_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = SweepSpec.from_dict({**SPEC, "methods": ["full", "random_dynamic"], "ratios": [0.5], "seeds": [0, 1, 2]})
    lines: list[str] = []
    sweep = Sweep(spec, tmp_path / "sweep", jobs=1, launcher=FakeLauncher(), cores=2, echo=lines.append,
                  poll_s=0.01, only=["random_dynamic-r0.5-s2", "full-*"])
    # the first pattern's cell first, then the second's in spec order; random s0/s1 not selected
    assert [c.id for c in sweep.selected] == ["random_dynamic-r0.5-s2", "full-r0-s0", "full-r0-s1", "full-r0-s2"]
    started = []
    sweep.echo = lambda m: (lines.append(m), started.append(m.split()[-1]) if m.strip().startswith("start") else None)
    status = sweep.run(command=["sadp", "sweep", "s.yaml", "--only", "full-*"])
    assert started == ["random_dynamic-r0.5-s2", "full-r0-s0", "full-r0-s1", "full-r0-s2"]
    assert set(status) == set(started) and "4 cells (4 of 6 selected)" in lines[0]
    # sweep.json still lists the whole grid; the unselected cells are there, not started
    info = {c["id"]: c["status"] for c in json.loads((sweep.out / "sweep.json").read_text())["cells"]}
    assert len(info) == 6 and info["random_dynamic-r0.5-s0"] == "new" and info["full-r0-s1"] == "done"
    assert not (sweep.out / "runs" / "random_dynamic-r0.5-s0").exists()
    with pytest.raises(ValueError, match="matches none of the spec's 6 cells"):
        Sweep(spec, tmp_path / "sweep", launcher=FakeLauncher(), only=["sadp-*"])
    # the CLI's dry run marks the unselected cells with "-"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "methods": ["full"], "seeds": [0, 1]}))
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run",
                 "--only", "*-s1", "--only", "*-s0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[:2]] == [["start", "full-r0-s1"], ["start", "full-r0-s0"]]  # run order
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run", "--only", "*-s1"]) == 0
    assert "-      full-r0-s0" in capsys.readouterr().out


def test_evidence_sgd_grid_and_sittings() -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    cells = SweepSpec.load(root / "evidence-sgd.yaml").cells("/tmp/out", resolve_data=False)
    # per seed: full + 3 methods x 3 ratios + 3 methods at r = 0.5 (v2); 3 short schedules + rs2 at 2 ratios (v3)
    assert len(cells) == 5 * (1 + 3 * 3 + 3 + 3 + 2) == 90
    short = {c.ratio: c for c in cells if c.label == "full_short" and c.seed == 0}
    # 111,750 / 86,250 / 60,750 examples seen
    assert {r: c.config["epochs"] for r, c in short.items()} == {0.3: 45, 0.5: 35, 0.7: 24}
    assert all(c.config["ratio"] == 0.0 and c.method == "full" and c.info()["reference_epochs"] == 60
               for c in short.values())
    # a sitting's patterns match with or without the dataset part, in the patterns' order
    part = select_cells(cells, ["grad_bound-r0.5-*", "cifar10/full-*"])
    assert [c.id for c in part] == ([f"cifar10/grad_bound-r0.5-s{s}" for s in range(5)]
                                    + [f"cifar10/full-r0-s{s}" for s in range(5)])


def test_matched_short_schedule_cells(tmp_path: Path) -> None:
    epochs, n = 16, 201
    spec = SweepSpec.from_dict({"name": "m", "methods": ["full", "random_dynamic", {
        "name": "full_short", "method": "full", "matched_to": "random_dynamic", "ratios": [0.7]}],
        "ratios": [0.3, 0.7], "seeds": [0], "settings": {"dataset": "digits", "epochs": epochs, "subset": n}})
    cells = {c.id: c for c in spec.cells(tmp_path, resolve_data=False)}
    assert set(cells) == {"full-r0-s0", "random_dynamic-r0.3-s0", "random_dynamic-r0.7-s0", "full_short-r0.7-s0"}
    short = cells["full_short-r0.7-s0"]
    # Hand count: random_dynamic trains on all 201 in epoch 0 and in epochs 14, 15 (the last 12.5 %),
    # K = round(0.3 * 201) = 60 in the 13 others: 3 * 201 + 13 * 60 = 1,383 examples = 6.88 epochs -> 7.
    assert short.config["epochs"] == 7 and short.config["ratio"] == 0.0 and short.method == "full"
    assert short.info() == {"id": "full_short-r0.7-s0", "label": "full_short", "method": "full", "ratio": 0.7,
                            "seed": 0, "matched_to": "random_dynamic", "reference_epochs": epochs, "epochs": 7}
    assert short_schedule_epochs("random_dynamic", 2500, 0.5, 60) == 35  # 86,250 / 2,500 = 34.5, rounded half up
    with pytest.raises(ValueError, match="matched_to is for full-data methods"):
        SweepSpec.from_dict({**SPEC, "methods": [{"name": "x", "method": "sadp", "matched_to": "random_dynamic"}]})
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        SweepSpec.from_dict({**SPEC, "methods": [{"name": "x", "method": "full", "matched_to": "nope"}]})


def test_threads_option_overrides_the_cores_share(tmp_path: Path) -> None:
    spec = SweepSpec.from_dict({**SPEC, "methods": ["full"], "seeds": [0]})
    assert Sweep(spec, tmp_path / "a", jobs=1, cores=2).threads_per_process() == 2
    assert Sweep(spec, tmp_path / "b", jobs=1, cores=2, threads=1).threads_per_process() == 1
    with pytest.raises(ValueError, match="threads must be >= 1"):
        Sweep(spec, tmp_path / "c", threads=0)


def test_evidence_deep_grid() -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    cells = SweepSpec.load(root / "evidence-deep.yaml").cells("/tmp/out", resolve_data=False)
    # per seed: full + 2 short schedules + 4 methods x 2 ratios
    assert len(cells) == 5 * (1 + 2 + 4 * 2) == 55
    # random_dynamic on 1,000 examples over 100 epochs: 14 full epochs (0 and 87-99) + 86 x K
    short = {c.ratio: c.config["epochs"] for c in cells if c.label == "full_short" and c.seed == 0}
    assert short == {0.5: 57, 0.7: 40}  # 57,000 and 39,800 examples seen
    assert {c.config["model_options"]["width"] for c in cells} == {0.25}


def test_short_schedule_refuses_methods_whose_epoch_sizes_depend_on_training() -> None:
    with pytest.raises(ValueError, match="its epoch sizes depend on training"):
        short_schedule_epochs("infobatch", 200, 0.5, 8)
