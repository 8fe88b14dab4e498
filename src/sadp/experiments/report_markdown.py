"""The report's text: ``report.md`` as markdown tables and sentences from the numbers of
:mod:`sadp.experiments.report_tables` (nothing here computes a statistic).

One file although it is long, because it has one job: it is one document. :func:`render_markdown`
lays the sections out in order, and every other function is a section's table or sentence, all
sharing the same number formats (``_pct``, ``_num``, ``_pval``, ``_ci_pp``, ``_md_table``).
Splitting it by section would spread one document's layout over several files without separating
two jobs; the jobs next to it already have their own modules: reading runs (``runs.py``),
computing (``report_tables.py``), plotting (``report_plots.py``), writing files (``report.py``)."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

from sadp.experiments.report_tables import (
    ANN_BOUND_LABEL,
    cost_of_pruning,
    diagnostics_table,
    equal_seen_comparison,
    own_examples_groups,
    plateau_check,
    pooled_paired,
    seed_noise,
    speedup_table,
    spike_awareness,
    spike_factor_per_epoch,
    spike_factor_table,
    steps_or_kept,
    time_to_accuracy,
    tta_table,
    vs_short_schedule,
)
from sadp.experiments.runs import (
    BASELINE_LABEL,
    FIT_THRESHOLD,
    FULL_METHOD,
    PLATEAU_GAIN,
    PLATEAU_WINDOW,
    TTA_MARGIN,
    Run,
    groups_by_cell,
    is_full_row,
    isnan,
    mean,
    time_basis,
)


def least_cost_sentence(tta_rows: list[dict[str, Any]], basis: str) -> str:
    """Which (method, ratio) reaches full data's final accuracy minus 1 pp in every seed with the fewest
    examples and with the least training time (median over seeds)."""
    complete = [t for t in tta_rows if t["n"] >= 1 and t["reached"] == t["n"]]
    if not complete:
        return "No method reached the target (full data's final accuracy - 1 pp) in every seed."
    name = lambda t: "full data" if is_full_row(t) else f"{t['label']} r={t['ratio']:g}"  # noqa: E731
    full = [t for t in complete if is_full_row(t)]
    by_seen = min(complete, key=lambda t: t["examples_fraction_median"])
    time_key = f"{basis}_fraction_median"
    timed = [t for t in complete if not math.isnan(t[time_key])]
    text = (f"Reaching full data's final accuracy - 1 pp in every seed, the fewest examples: **{name(by_seen)}** "
            f"(median {_pct(by_seen['examples_fraction_median'], 0)}% of a full-data run's examples")
    text += f"; full data itself {_pct(full[0]['examples_fraction_median'], 0)}%)" if full else ")"
    if timed:
        by_time = min(timed, key=lambda t: t[time_key])
        text += (f"; the least training time ({basis}): **{name(by_time)}** (median {_pct(by_time[time_key], 0)}% of "
                 "the full-data run's")
        own = full and not math.isnan(full[0][time_key])
        text += f"; full data itself {_pct(full[0][time_key], 0)}%)." if own else ")."
    short = [t for t in tta_rows if t["reached"] < t["n"]]
    if short:
        text += " Not in every seed: " + "; ".join(f"{name(t)} ({t['reached']}/{t['n']})" for t in short) + "."
    return text


def speedup_sentences(rows: list[dict[str, Any]]) -> list[str]:
    """What the efficiency numbers say, from the numbers: batch rounding vs a fixed per-epoch part."""
    clock = "cpu" if any(not math.isnan(r["epoch_time_ratio_cpu"]) for r in rows) else "wall"
    rows = [r for r in rows if not math.isnan(r[f"epoch_time_ratio_{clock}"])]
    if not rows:
        return []
    rounding = max((r["step_fraction"] - r["kept_fraction"] for r in rows if not math.isnan(r["step_fraction"])),
                   default=math.nan)
    out = ["Efficiency 1 means a pruned epoch's time shrinks in proportion to the examples it keeps. " + (
        "The runs did not log their optimizer steps, so batch rounding is not separated out (s = k assumed)."
        if math.isnan(rounding) else
        "Batch rounding (an epoch runs ceil(K / batch) steps) puts the step fraction s at most "
        f"{100 * rounding:.1f} pp "
        "above the kept fraction k here, so it explains at most that much of a time ratio above k.")]
    within, fixed, faster = [], [], []
    for r in rows:
        low, high = r[f"epoch_time_ratio_{clock}_ci_low"], r[f"epoch_time_ratio_{clock}_ci_high"]
        name = f"{r['label']} r={r['ratio']:g}"
        s = steps_or_kept(r)
        tau = r[f"epoch_time_ratio_{clock}"]
        if (not math.isnan(low) and low <= s <= high) or abs(tau - s) < 1e-9:
            within.append(name)
        elif tau > s:
            fixed.append(f"{name} ({_pct(r[f'fixed_share_{clock}'], 0)}%)")
        else:
            faster.append(name)
    if within:
        out.append(f"The {clock} time ratio matches the step fraction (its 95% CI contains s: time proportional to "
                   f"steps, no fixed per-epoch part measurable) for: {', '.join(within)}.")
    if fixed:
        out.append(f"Time ratio above the step fraction (CI excludes s, or n < 2): if an epoch took a fixed part "
                   "plus a part proportional to its steps, the fixed part would be this share of a full epoch "
                   f"({clock} "
                   f"time): {', '.join(fixed)}; per-epoch work that does not shrink with the kept examples (drawing "
                   "the selection, starting the data loader) would show up here.")
    if faster:
        out.append(f"Pruned epochs ran faster per step than the same runs' full epochs ({clock} time) for: "
                   f"{', '.join(faster)}.")
    first = mean(r[f"first_epoch_ratio_{clock}"] for r in rows)
    if not math.isnan(first):
        out.append(f"The first epoch took {first:.2f}x the {clock} time of the later full epochs on average; "
                   "it is one of "
                   "the reference epochs, so above 1 it lowers tau and raises the efficiency.")
    if clock == "cpu" and any(not math.isnan(r["epoch_time_ratio_wall"]) for r in rows):
        out.append("Wall-time ratios are shown beside the CPU ones; where they differ, other load on the machine "
                   "changed between the pruned and the full epochs.")
    return out


def spike_factor_sentence(rows: list[dict[str, Any]]) -> str:
    low, high = min(r["cv_min"] for r in rows), max(r["cv_max"] for r in rows)
    return ("SADP's score is grad_bound's output error ||softmax(z) - y|| times this spike factor, so SADP's scores "
            "(and, before any clipping or mixing, its sampling probabilities) are grad_bound's rescaled by a factor "
            "whose relative spread across examples is its coefficient of variation (CV). Where the CV is small, SADP's "
            "score cannot differ much from the ANN bound's (grad_bound) and the two methods select nearly alike. "
            f"Here the per-epoch CV ranged from {low:.3f} to {high:.3f} over the pruned epochs of every run.")


# -- formatting ---------------------------------------------------------------------------------
def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if isnan(x) else f"{100 * x:.{digits}f}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if isnan(x) else format(x, fmt)


def _times(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}x"


def _pval(p: float) -> str:
    return "—" if isnan(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _ci_pp(row: dict[str, Any]) -> str:
    if math.isnan(row["ci_low"]):
        return "undefined (n < 2)"
    return f"[{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]"


def acc_cell(mean: float, std: float, n: int) -> str:
    return f"{_pct(mean)} ± {_pct(std)} (n={n})" if n >= 2 else f"{_pct(mean)} (n=1, no spread)"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ratio_str(row: dict[str, Any]) -> str:
    return "0 (full data)" if is_full_row(row) else f"{row['ratio']:g}"


def _describe(runs: list[Run]) -> str:
    cfg = runs[0].summary.get("config", {})
    keys = ("dataset", "subset", "model", "model_options", "T", "epochs", "batch_size", "optimizer", "lr",
            "momentum", "weight_decay", "augment", "eval_every")
    parts = [f"{k}={cfg[k]}" for k in keys if cfg.get(k) not in (None, {}, [])]
    n_train, n_test = runs[0].summary.get("num_train"), runs[0].summary.get("num_test")
    if n_train:
        parts.append(f"{n_train} train / {n_test} test examples")
    parts.append(f"device {runs[0].summary.get('device', '?')}")
    return ", ".join(parts)


def machines_line(runs: list[Run]) -> str:
    """Where the times were measured: one machine, or a warning that the runs come from several (time
    comparisons then pair only runs of one machine). Runs older than the ``machine`` record count as unrecorded."""
    def name(m: dict[str, Any] | None) -> str:
        if not m:
            return "machine not recorded"
        return (f"{m.get('cpu', '?')}, {m.get('logical_cores', '?')} cores, "
                f"{m.get('torch_threads', '?')} torch thread(s)")

    counts = Counter(name(r.summary.get("machine")) for r in runs)
    if len(counts) == 1:
        return f"Times: all {len(runs)} runs on one machine ({next(iter(counts))})."
    listed = "; ".join(f"{n} run(s): {machine}" for machine, n in counts.most_common())
    return (f"**Times come from {len(counts)} machines** ({listed}): a run's time is compared with the full-data "
            "run of its seed only when both ran on one machine (other time shares, speedups and time-to-accuracy "
            "fractions are left out: '—'); accuracies and examples seen pair across machines, but a run repeated on "
            "another CPU does not follow the same trajectory, so cross-machine pairs carry that extra noise.")


STATS_NOTE = ("Paired by seed (a seed fixes the training subset and the initialisation): per seed, method minus "
              "reference. 95% CI = mean ± t_{0.975, n-1} s / sqrt(n) of the paired differences; a difference is "
              "**evidence** only when its 95% CI excludes 0. p sign: exact two-sided sign test on wins against losses "
              "(ties left out); p Wilcoxon: two-sided signed-rank test (zeros left out). With 5 seeds neither test can "
              "go below p = 0.0625 (2 / 2^5), so the CI is the verdict; with one seed there is no CI.")


def paired_markdown(rows: list[dict[str, Any]], extra: tuple[str, str] | None = None,
                    dataset: bool = False) -> str:
    """Markdown table of paired rows (``extra``: one more column, header and key)."""
    header = (["dataset"] if dataset else []) + ["method", "ratio"] + ([extra[0]] if extra else []) + [
        "n", "mean diff (pp)", "95% CI (pp)", "w/t/l", "p sign", "p Wilcoxon", "per seed (pp)", "verdict"]
    body = []
    for p in rows:
        cells = ([p["dataset"]] if dataset else []) + [p["label"], f"{p['ratio']:g}"]
        if extra:
            cells.append(f"{_pct(p[extra[1]], 0)}%")
        per_seed = ", ".join(f"s{s}: {100 * d:+.1f}" for s, d in zip(p["seeds"], p["diffs"]))
        if p["unpaired_seeds"]:
            per_seed += f" (unpaired: {', '.join(map(str, p['unpaired_seeds']))})"
        cells += [str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _ci_pp(p), f"{p['wins']}/{p['ties']}/{p['losses']}",
                  _pval(p["p_sign"]), _pval(p["p_wilcoxon"]), per_seed, p["verdict"]]
        body.append(cells)
    return _md_table(header, body)


def verdict_summary(paired: list[dict[str, Any]], method: str = "sadp", what: str | None = None) -> list[str]:
    """One sentence for ``method`` against its reference: where the 95% CI says better, worse, or
    includes 0 (no evidence either way), with the differences and CIs, so the report states its
    answer in words."""
    rows = [p for p in paired if p["label"] == method]
    if not rows:
        return []

    def where(test: Callable[[dict[str, Any]], bool]) -> str:
        hits = [p for p in rows if test(p)]
        return "; ".join(
            f"{p['dataset'] + ' ' if p.get('dataset') else ''}r={p['ratio']:g} ({100 * p['diff_mean']:+.2f} pp, "
            f"CI {_ci_pp(p)}, {p['wins']}/{p['ties']}/{p['losses']})" for p in hits) or "nowhere"

    what = what or f"against {rows[0]['baseline']} at the same ratio"
    text = (f"**{method} {what}:** better (95% CI above 0): {where(lambda p: p['evidence'] and p['diff_mean'] > 0)}. "
            f"Worse (CI below 0): {where(lambda p: p['evidence'] and p['diff_mean'] < 0)}. "
            f"No evidence either way (CI includes 0): {where(lambda p: p['n'] >= 2 and not p['evidence'])}.")
    single = [p for p in rows if p["n"] < 2]
    if single:
        text += f" CI undefined (one seed): {where(lambda p: p['n'] < 2)}."
    return ["", text]


def _plateau_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["No full-data run: no plateau check."]
    fit = [r for r in rows if r["fits"] is not None]
    flat = [r for r in rows if r["plateaued"] is not None]
    text = (f"Regime check on the full-data runs: training accuracy without augmentation at the end >= "
            f"{100 * FIT_THRESHOLD:.0f}% in {sum(r['fits'] for r in fit)} of {len(fit)} measured runs"
            + (f" ({len(rows) - len(fit)} did not measure it: `train_eval_size`)" if len(fit) < len(rows) else "")
            + f"; test accuracy gained < {100 * PLATEAU_GAIN:.0f} pp over the last {100 * PLATEAU_WINDOW:.0f}% "
            "of epochs "
            f"in {sum(r['plateaued'] for r in flat)} of {len(flat)}. Gain = final test accuracy minus the one at the "
            "last evaluation at or before the window's start.")
    yes = lambda b: "—" if b is None else ("yes" if b else "**no**")  # noqa: E731
    table = _md_table(["seed", "epochs", "train acc, no aug. %", "fits (>= 95%)", "test acc % at epoch",
                       "final test acc %", "gain (pp)", "plateaued (< 1 pp)"],
                      [[str(r["seed"]), str(r["epochs"]), _pct(r["train_eval_acc"]), yes(r["fits"]),
                        f"{_pct(r['test_acc_at_start'])} (epoch {r['window_start_epoch']})"
                        if r["window_start_epoch"] else "—",
                        _pct(r["test_acc"]), "—" if math.isnan(r["gain"]) else f"{100 * r['gain']:+.2f}",
                        yes(r["plateaued"])]
                       for r in rows])
    return [text, "", table]


def _tta_lines(tta: list[dict[str, Any]], tta_rows: list[dict[str, Any]], basis: str,
               eval_every: int | None) -> list[str]:
    has_cpu = any(not math.isnan(t["cpu_s_median"]) for t in tta_rows)
    header = ["method", "ratio", "reached", "epoch (median)", "examples, % of full run (median / mean)",
              "wall s (median / mean)"] + (["CPU s (median / mean)"] if has_cpu else []) + [
              f"{basis} time, % of full run (median)"]
    body = []
    for t in tta_rows:
        no_full = f" ({t['no_full_run']} without a full-data run)" if t["no_full_run"] else ""
        cells = [t["label"], _ratio_str(t), f"{t['reached']}/{t['n']}" + no_full,
                 _num(t["epoch_median"], ".0f"),
                 f"{_pct(t['examples_fraction_median'], 0)} / {_pct(t['examples_fraction_mean'], 0)}",
                 f"{_num(t['wall_s_median'], '.0f')} / {_num(t['wall_s_mean'], '.0f')}"]
        if has_cpu:
            cells.append(f"{_num(t['cpu_s_median'], '.0f')} / {_num(t['cpu_s_mean'], '.0f')}")
        cells.append(_pct(t[f"{basis}_fraction_median"], 0))
        body.append(cells)
    granularity = (f" Test accuracy is measured every {eval_every} epochs, so the crossing is found at the first "
                   f"evaluation at or after it (up to {eval_every - 1} epochs late)."
                   if eval_every and eval_every > 1 else "")
    never = [t for t in tta if not t["reached"] and t["note"]]
    lines = ["Per run: the examples and training time (evaluation excluded) until test accuracy first reaches "
             f"the same seed's full-data final accuracy minus {100 * TTA_MARGIN:.0f} pp. Median and mean over the "
             "seeds that reached it; "
             f"'reached' counts them. Shares are of the same seed's full-data run's whole training.{granularity}", "",
             _md_table(header, body), "", least_cost_sentence(tta_rows, basis)]
    if never:
        lines += ["", "Runs that did not reach it: " + "; ".join(
            f"{t['label']} r={t['ratio']:g} seed {t['seed']} ({t['note']})" for t in never) + "."]
    return lines


def _speedup_lines(rows: list[dict[str, Any]]) -> list[str]:
    has_cpu = any(not math.isnan(r["epoch_time_ratio_cpu"]) for r in rows)
    clocks = ["wall", "cpu"] if has_cpu else ["wall"]

    def ci(r: dict[str, Any], key: str) -> str:
        low, high = r[f"{key}_ci_low"], r[f"{key}_ci_high"]
        return _num(r[key], ".3f") + ("" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]")

    header = ["method", "ratio", "n", "kept k", "steps s"]
    for c in clocks:
        header += [f"epoch time ratio tau ({c})", f"efficiency k/tau ({c})", f"fixed share ({c})"]
    body = []
    for r in rows:
        cells = [r["label"], f"{r['ratio']:g}", str(r["n_epoch"]), _num(r["kept_fraction"], ".3f"),
                 _num(r["step_fraction"], ".3f")]
        for c in clocks:
            cells += [ci(r, f"epoch_time_ratio_{c}"), ci(r, f"epoch_efficiency_{c}"),
                      f"{_pct(r[f'fixed_share_{c}'], 0)}%"]
        body.append(cells)
    run_header = ["method", "ratio", "examples seen"]
    for c in clocks:
        run_header += [f"n ({c})", f"run time / full ({c})", f"run efficiency ({c})"]
    run_body = []
    for r in rows:
        cells = [r["label"], f"{r['ratio']:g}", f"{_pct(r['run_examples_fraction'], 1)}%"]
        for c in clocks:
            cells += [str(r[f"n_run_{c}"]), ci(r, f"run_time_ratio_{c}"), _num(r[f"run_efficiency_{c}"], ".3f")]
        run_body.append(cells)
    refs = sorted({r["reference"] for r in rows if r["reference"]})
    return [f"Per pruned epoch, against the same run's full epochs (reference: {'; '.join(refs) or '—'}): "
            "kept fraction "
            "k = selected / training examples, step fraction s = optimizer steps / a full epoch's, time ratio tau = "
            "mean pruned-epoch time / mean full-epoch time, efficiency = k / tau (1: time proportional to the kept "
            "examples). Fixed share = (tau - s) / (1 - s): the part of a full epoch's time that would not shrink "
            "with the steps if epoch time were linear in them. Mean over seeds [95% CI]. "
            + ("CPU = process CPU seconds (`epoch_cpu_s`), steadier than wall time on a shared machine." if has_cpu else
               "Wall time only: these runs did not log CPU seconds."),
            "", _md_table(header, body), "",
            "Whole runs (all epochs, evaluation excluded) against the full-data run of the same seed: run efficiency = "
            "examples seen (share of full data's) / time ratio.", "", _md_table(run_header, run_body), ""] + [
                "- " + line for line in speedup_sentences(rows)]


def render_markdown(runs: list[Run], missing: list[str], table: list[dict[str, Any]],
                    paired: list[dict[str, Any]], title: str, command: str | None, plots: list[str],
                    cost: list[dict[str, Any]] | None = None, equal: list[dict[str, Any]] | None = None,
                    tta: list[dict[str, Any]] | None = None, speed: list[dict[str, Any]] | None = None,
                    held_lines: list[str] | None = None, short: list[dict[str, Any]] | None = None,
                    aware: list[dict[str, Any]] | None = None) -> str:
    short = vs_short_schedule(runs) if short is None else short
    aware = spike_awareness(runs) if aware is None else aware
    cost = cost_of_pruning(runs) if cost is None else cost
    equal = equal_seen_comparison(runs) if equal is None else equal
    tta = time_to_accuracy(runs) if tta is None else tta
    speed = speedup_table(runs) if speed is None else speed
    tta_rows = tta_table(tta)
    basis = time_basis(runs)
    sigma = seed_noise(runs)
    seeds = sorted({r.seed for r in runs})
    eval_every = runs[0].summary.get("config", {}).get("eval_every")
    out = [f"# {title}", ""]
    out += [f"Setting: {_describe(runs)}.", "", machines_line(runs), ""]
    if command:
        # sweep.json keeps the latest invocation only; a grid run in sittings (--only) shows its last one.
        out += ["Command (the sweep's latest run; a grid run in sittings shows only its last sitting):", "",
                "```", command, "```", ""]
    if missing:
        out += [f"**Incomplete: {len(missing)} cell(s) of the sweep have no result and are left out:** "
                + ", ".join(missing), ""]
    out += held_lines or []

    out += ["## Answer", "", "Verdicts from the 95% CIs of the paired differences (details under Statistics).", ""]
    sadp_first = lambda m: (m != "sadp", m)  # noqa: E731
    for rows, what in ((aware, f"against the ANN bound ({ANN_BOUND_LABEL}) at the same ratio "
                               "(does spike-awareness pay?)"),
                       (paired, None), (short, "against full data on the short schedule matched to its ratio "
                                               "(pruning vs training less)"),
                       (equal, f"against {BASELINE_LABEL} at equal examples seen"),
                       (cost, "against full data (the cost of pruning)")):
        for method in sorted({p["label"] for p in rows}, key=sadp_first):
            out.append("- " + verdict_summary(rows, method, what)[1])
    if tta_rows:
        out.append("- " + least_cost_sentence(tta_rows, basis))
    out.append("")
    out += ["## Regime: did the full-data runs fit and plateau?", ""] + _plateau_lines(plateau_check(runs))

    tfmt = ".0f" if min(r["train_time_s_mean"] for r in table) >= 100 else ".1f"
    has_cpu = any(not math.isnan(r["train_cpu_s_mean"]) for r in table)
    out += ["", "## Accuracy and time", "",
            "Test accuracy (%) at the last epoch, mean ± sample std over seeds (n seeds), and its t-based 95% CI. "
            "Training time excludes evaluation" + (" (wall; CPU seconds beside it)" if has_cpu else " (wall)")
            + ". Measured speedup = full-data training time / this run's, paired by seed (the CPU one only over seeds "
            "with a full-data run); theoretical = full-data "
            "examples / examples actually trained on (examples seen, as a share of full data's); efficiency = "
            "measured / theoretical. Compare methods at equal examples seen.", ""]
    header = ["method", "ratio", "test acc %", "95% CI", "Δ vs full (pp)", "train acc %", "examples seen",
              "train time s"]
    header += (["train CPU s"] if has_cpu else []) + ["time saved (wall)"] + (
        ["speedup measured (wall / CPU)", "speedup theoretical", "efficiency (wall / CPU)"] if has_cpu else
        ["speedup measured", "speedup theoretical", "efficiency"])
    body = []
    for r in table:
        cells = [r["label"], _ratio_str(r), acc_cell(r["test_acc_mean"], r["test_acc_std"], r["n"]),
                 "—" if math.isnan(r["test_acc_ci_low"])
                 else f"{_pct(r['test_acc_ci_low'])}–{_pct(r['test_acc_ci_high'])}",
                 "—" if is_full_row(r) else f"{100 * r['delta_vs_full']:+.1f}",
                 _pct(r["final_train_acc_mean"]), f"{_pct(r['examples_seen_fraction'], 0)}%",
                 f"{_num(r['train_time_s_mean'], tfmt)} ± {_num(r['train_time_s_std'], tfmt)}"]
        if has_cpu:
            cells.append(_num(r["train_cpu_s_mean"], tfmt))
        cells.append("—" if is_full_row(r) else f"{_pct(r['time_saved'], 0)}%")
        if has_cpu:
            cells += [f"{_times(r['speedup_measured'])} / {_times(r['speedup_measured_cpu'])}",
                      _times(r["speedup_theoretical"]),
                      f"{_num(r['efficiency'])} / {_num(r['efficiency_cpu'])}"]
        else:
            cells += [_times(r["speedup_measured"]), _times(r["speedup_theoretical"]), _num(r["efficiency"])]
        body.append(cells)
    out.append(_md_table(header, body))
    out += ["", "## Per-seed test accuracy (%)", ""]
    per_seed = []
    for (label, ratio), g in groups_by_cell(runs).items():
        by_seed = {r.seed: r.test_acc for r in g}
        per_seed.append([label, "0 (full data)" if g[0].is_reference_full else f"{ratio:g}"]
                        + [_pct(by_seed[s]) if s in by_seed else "—" for s in seeds])
    out.append(_md_table(["method", "ratio"] + [f"seed {s}" for s in seeds], per_seed))

    out += ["", "## Statistics", "", STATS_NOTE, ""]
    out += [f"### Against {BASELINE_LABEL} at the same ratio", ""]
    if paired:
        out += [f"Test accuracy difference (pp), method minus {BASELINE_LABEL}. At the same ratio "
                f"{BASELINE_LABEL} and the "
                "importance samplers see the same number of examples.", "", paired_markdown(paired)]
    else:
        out.append(f"No {BASELINE_LABEL} runs at a shared ratio: nothing to pair.")
    if aware:
        out += ["", f"### Spike-awareness: sadp against the ANN bound ({ANN_BOUND_LABEL})", "",
                f"Test accuracy difference (pp), sadp minus {ANN_BOUND_LABEL} at the same ratio and seed. "
                "The two scores "
                "differ only by SADP's spike factor mean_t sqrt(n_t + 1), and both sample exactly K with the same "
                "schedule.", "", paired_markdown(aware)]
    if short:
        out += ["", "### Pruning vs training less (full data on a matched short schedule)", "",
                "Test accuracy difference (pp), method minus full data trained on a complete shorter schedule (warm-up "
                "and cosine over E' epochs) that sees as many examples as the matched method at that ratio, same seed. "
                "Short schedules: " + "; ".join(sorted({
                    f"{r.label} r={r.ratio:g}: {r.summary.get('epochs')} of {r.reference_epochs} epochs, "
                    f"matched to {r.matched_to}" for r in runs if r.matched_to})) + ".", "", paired_markdown(short)]
    out += ["", "### Against full data (the cost of pruning)", ""]
    out += (["Test accuracy difference (pp), method minus the full-data run of the same seed.", "",
             paired_markdown(cost)] if cost else ["No full-data runs: nothing to pair."])
    compared = {(p["label"], p["ratio"]) for p in equal}
    left_out = [f"{label} r={ratio:g} ({', '.join(f'{100 * r.examples_fraction:.0f}%' for r in g)} seen)"
                for label, ratio, g in own_examples_groups(runs) if (label, ratio) not in compared]
    if equal or left_out:
        out += ["", f"### Against {BASELINE_LABEL} at equal examples seen", "",
                f"For methods that train on a different number of examples than {BASELINE_LABEL} at their ratio: per "
                f"seed, {BASELINE_LABEL}'s test accuracy interpolated linearly in examples seen between its ratios "
                "and full "
                "data (same seed), at the method's own examples seen; method minus that, in pp. Seeds outside "
                f"{BASELINE_LABEL}'s range are listed as unpaired.", "",
                paired_markdown(equal, extra=("examples seen", "examples_seen_fraction")) if equal else "No pairs."]
        if left_out:
            out += ["", f"Outside {BASELINE_LABEL}'s range of examples seen in every seed (no interpolation; "
                    "compared at "
                    "the same ratio and against full data only): " + "; ".join(left_out) + "."]

    out += ["", "## Time to accuracy", ""] + _tta_lines(tta, tta_rows, basis, eval_every)
    if speed:
        out += ["", "## Speedup against theory", ""] + _speedup_lines(speed)
    spike = spike_factor_table(runs)
    if spike:
        out += ["", "## SADP's spike factor", "",
                "Per epoch, the trainer logs the spike factor mean_t sqrt(n_t + 1) of the head's input over the "
                "examples "
                "scored that epoch: its mean, its coefficient of variation across examples (CV = std / mean) and the "
                "share of examples whose head input was silent at every step (factor exactly 1). Mean over pruned "
                "epochs (all, first half, second half), then over seeds.", "",
                _md_table(["method", "ratio", "n", "factor mean", "CV", "CV early", "CV late", "CV min–max",
                           "silent %", "silent early %", "silent late %"],
                          [[s["label"], f"{s['ratio']:g}", str(s["n"]), _num(s["spike_factor_mean"], ".3f"),
                            _num(s["spike_factor_cv"], ".3f"), _num(s["spike_factor_cv_early"], ".3f"),
                            _num(s["spike_factor_cv_late"], ".3f"), f"{s['cv_min']:.3f}–{s['cv_max']:.3f}",
                            _pct(s["head_silent_share"]), _pct(s["head_silent_share_early"]),
                            _pct(s["head_silent_share_late"])]
                           for s in spike]),
                "", spike_factor_sentence(spike)]
        per_epoch = spike_factor_per_epoch(runs)
        cols = sorted({(p["label"], p["ratio"]) for p in per_epoch}, key=lambda c: (c[1], c[0]))
        by = {(p["label"], p["ratio"], p["epoch"]): p for p in per_epoch}
        epochs = sorted({p["epoch"] for p in per_epoch})
        out += ["", "Per epoch, mean over seeds: the spike factor's CV (silent head inputs %); * marks an epoch that "
                "trained on full data (first epoch, annealing tail), whose scores still come from the training pass.",
                "",
                _md_table(["epoch"] + [f"{lab} r={ratio:g}" for lab, ratio in cols],
                          [[str(e)] + [_cv_cell(by.get((lab, ratio, e))) for lab, ratio in cols] for e in epochs])]
    diag = diagnostics_table(runs)
    if diag:
        out += ["", "## Selection diagnostics", "",
                "Means over seeds. Predicted variance ratio: Horvitz-Thompson variance of the epoch gradient "
                "estimator under the method's inclusion probabilities over uniform sampling's at the same K, "
                "for independent inclusion, with each example's last score standing in for its gradient norm "
                "(mean over pruned epochs; importance samplers only). Weights: the largest and the 99th-percentile "
                "loss weight of a kept example in any pruned epoch. Never drawn: share of training examples not "
                "selected in any pruned epoch. Train acc: accuracy on a fixed sample of training examples without "
                "augmentation after the last epoch; gap = train acc - test acc.", ""]
        out.append(_md_table(
            ["method", "ratio", "predicted var ratio", "max weight", "q99 weight", "never drawn %", "train acc %",
             "gap (pp)"],
            [[d["label"], "0 (full data)" if is_full_row(d) else f"{d['ratio']:g}", _num(d["var_ratio_pred"], ".3f"),
              _num(d["weight_max"]), _num(d["weight_q99"]), _pct(d["never_drawn_pruned"]), _pct(d["train_eval_acc"]),
              _pct(d["generalization_gap"])] for d in diag]))
    out += ["", "## Seeds", "",
            f"Seeds: {', '.join(map(str, seeds))}. Pooled seed-to-seed std of test accuracy within a cell: "
            f"{_pct(sigma, 2)} pp "
            "(descriptive: how much one run's accuracy varies; the comparisons above use the paired differences, "
            "which cancel the variation seeds share). Time plots and shares use "
            + ("process CPU seconds (every run logged them)." if basis == "cpu"
               else "wall seconds (not every run logged CPU seconds)."),
            ""]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _cv_cell(row: dict[str, Any] | None) -> str:
    """One epoch's spike-factor CV (silent head inputs %), * for an epoch on full data; — without a row."""
    if row is None:
        return "—"
    return f"{row['spike_factor_cv']:.3f} ({_pct(row['head_silent_share'])})" + ("" if row["pruned"] else "*")


def held_lines(held: list[str], min_seeds: int) -> list[str]:
    if not held:
        return []
    return [f"**Held back: {len(held)} cell(s) with fewer than {min_seeds} seeds are not reported "
            f"(their runs are kept, and the sweep resumes them):** " + "; ".join(held), ""]


def pooled_section(runs: list[Run], groups: list[str], baseline: str = BASELINE_LABEL) -> list[str]:
    """Exploratory: each method minus ``baseline`` pooled over every (dataset, ratio, seed) pair."""
    labels = sorted({r.label for r in runs if r.method != FULL_METHOD and r.label != baseline
                     and "_" not in r.label.removeprefix(r.method)})
    rows = []
    for label in labels:
        p = pooled_paired(runs, groups, label, None, baseline)
        if p and p["n"] >= 2:
            se = p["diff_std"] / math.sqrt(p["n"])
            rows.append([label, str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _pct(p["diff_std"], 2), _pct(se, 2),
                         f"{p['wins']}/{p['ties']}/{p['losses']}"])
    if not rows:
        return []
    return ["", "## Pooled over datasets and ratios (exploratory)", "",
            f"Each method minus {baseline} over every (dataset, ratio, seed) pair with the same ratio. Not a "
            "pre-registered test and no verdict: pairs of one dataset share seeds and initialisations, so they are not "
            "independent, and SE = std / sqrt(n) understates the uncertainty.", "",
            _md_table(["method", "pairs", "mean diff (pp)", "std", "SE", "w/t/l"], rows)]


def variant_section(runs: list[Run], groups: list[str], default: str = "sadp") -> list[str]:
    """Named variants of the default method (labels ``<default>_*``) against it, per dataset and
    pooled over datasets, at the ratios where both ran."""
    variants = sorted({r.label for r in runs if r.label.startswith(default + "_")})
    if not variants:
        return []
    rows = []
    for v in variants:
        for ratio in sorted({r.ratio for r in runs if r.label == v}):
            for g in groups + ["all datasets"]:
                sub = groups if g == "all datasets" else [g]
                p = pooled_paired([r for r in runs if r.group in sub], sub, v, ratio, default)
                if p:
                    rows.append([v, f"{ratio:g}", g, str(p["n"]), f"{100 * p['diff_mean']:+.2f}", _ci_pp(p),
                                 f"{p['wins']}/{p['ties']}/{p['losses']}", _pval(p["p_sign"]), _pval(p["p_wilcoxon"]),
                                 p["verdict"]])
    return ["", f"## Variants against the default {default}, paired by seed", "",
            f"Test accuracy difference (pp), variant minus {default} at the same ratio and seed; 95% CI and tests as "
            "above. The 'all datasets' row pairs every (dataset, seed): its pairs are not independent across datasets "
            "that share seeds, so read it as exploratory.", "",
            _md_table(["variant", "ratio", "dataset", "n", "mean diff (pp)", "95% CI (pp)", "w/t/l", "p sign",
                       "p Wilcoxon", "verdict"], rows)]
