"""``sadp`` command line. Each subcommand lives in ``sadp/cli/<name>.py`` with
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them up."""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "train": "train one configuration (default: SNN on the embedded digits)",
    "sweep": "run methods x ratios x seeds from a YAML spec",
    "report": "summarise a sweep directory into markdown tables and plots",
    "diagnose": "measure score fidelity, gradient-estimator variance and bias",
}


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``[default: X]`` to an option's help once: not where the help states its default
    already (``sadp train`` takes its defaults from TrainConfig; its flags default to None so a
    config file can fill them), and not for switches, positionals or a None/empty default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("[default:" in text or not action.option_strings or action.nargs == 0
                or action.default in (None, [], argparse.SUPPRESS)):
            return text
        return f"{text} [default: {action.default}]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sadp",
        description="Spike-aware dynamic data pruning for spiking neural networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"sadp.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"sadp.cli.{name}":
                continue  # subcommand not part of this build
            raise
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip(),
                           formatter_class=HelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        argv = ["train"]  # `sadp` alone runs the default job
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    rc = _dispatch(args)
    from sadp.train import distributed

    if distributed.launched_by_torchrun():
        distributed.exit_process(rc)  # a torchrun worker skips interpreter shutdown; see exit_process
    return rc


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, RuntimeError) as e:
        if getattr(args, "debug", False):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"sadp {args.command}: error: {msg}", file=sys.stderr)
        return 1
