"""Train a spiking network with a data-pruning method.

With no options: the small spiking CNN on the embedded scikit-learn digits (about a minute on
2 CPU cores). Options come from --config YAML (keys as below, underscores) and are overridden
by flags given on the command line. Writes OUT/summary.json, OUT/metrics.jsonl,
OUT/checkpoint.pt (atomic, every epoch) and OUT/config.json.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from sadp.pruning.base import DEFAULT_RATIO
from sadp.registry import (
    DATASETS,
    ENCODERS,
    LOSSES,
    METHODS,
    MODELS,
    NEURONS,
    OPTIMIZERS,
    SURROGATES,
    Registry,
)
from sadp.train.config import TrainConfig, load_yaml

# flag -> (type, help); defaults come from TrainConfig so there is one source of truth.
FLAGS: dict[str, tuple[Any, str]] = {
    "dataset": (str, "registered dataset"),
    "data_dir": (str, "directory holding the dataset files"),
    "subset": (int, "train on a fixed, seeded, class-balanced subset of this many examples"),
    "model": (str, "registered model"),
    "method": (str, "pruning method"),
    "ratio": (float, "pruning ratio r: each epoch trains on about (1 - r) N examples "
                     f"(None: 0 for full, {DEFAULT_RATIO} otherwise)"),
    "epochs": (int, "training epochs"),
    "batch_size": (int, "batch size"),
    "lr": (float, "peak learning rate (cosine schedule with warm-up)"),
    "weight_decay": (float, "weight decay"),
    "optimizer": (str, "optimizer"),
    "warmup_epochs": (float, "linear warm-up length in epochs"),
    "label_smoothing": (float, "label smoothing of the cross-entropy"),
    "loss": (str, "per-example training loss"),
    "T": (int, "time steps (static data; event data take T from binning)"),
    "neuron": (str, "spiking neuron"),
    "tau": (float, "membrane time constant"),
    "surrogate": (str, "surrogate gradient"),
    "encoder": (str, "input encoder (static data)"),
    "seed": (int, "random seed (selection, init, augmentation)"),
    "device": (str, "auto, cpu, cuda, cuda:1, ..."),
    "out": (str, "output directory"),
    "num_workers": (int, "DataLoader workers for streamed datasets"),
    "augment": (str, "training augmentation instead of the dataset's: none, flip, crop_flip or event"),
    "eval_every": (int, "evaluate every n epochs (always after the last)"),
    "train_eval_size": (int, "also evaluate on this many fixed training examples (train/test gap)"),
    "backprop": (str, "bptt, or sltt: backward without the temporal routes (same forward; less memory and time)"),
    "backprop_steps": (int, "SLTT-K: backpropagate K random time steps per batch "
                            "(0: every step; needs --backprop sltt)"),
}
# flag -> the registry whose names its help lists (read when the parser is built, so entries
# registered before that are listed too)
REGISTERED: dict[str, Registry] = {
    "dataset": DATASETS, "model": MODELS, "method": METHODS, "optimizer": OPTIMIZERS, "loss": LOSSES,
    "neuron": NEURONS, "surrogate": SURROGATES, "encoder": ENCODERS,
}
BOOL_FLAGS = {
    "resume": "continue the run in --out from its last checkpoint",
    "skip_corrupt": "skip undecodable images (counted in summary.json) instead of failing",
    "drop_last": "drop the last incomplete batch of each epoch",
    "no_progress": "no progress bar",
    "no_amp": "disable mixed precision on CUDA",
    "memory_lean": "recompute spiking stages in backward: less activation memory, more compute (sadp models)",
    "compile": "torch.compile the model (first step compiles; kernels cached in ~/.cache/sadp/inductor)",
    "no_tune_allocator": "leave glibc malloc settings alone (otherwise large freed blocks are kept for reuse)",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of options; flags override it")
    defaults = TrainConfig()
    for name, (typ, text) in FLAGS.items():
        default = getattr(defaults, name)  # the flag itself defaults to None: a --config value wins over it
        if name in REGISTERED:
            text = f"{text}: {', '.join(REGISTERED[name].names())}"
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=typ, default=None,
                       help=text if default is None else f"{text} [default: {default}]")
    for name, text in BOOL_FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, action="store_true", default=None, help=text)
    p.add_argument("--dataset-option", dest="dataset_option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the dataset reader (repeatable), e.g. image_size=224, time_steps=16, frame_size=48")
    p.add_argument("--method-option", dest="method_option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the pruning method (repeatable), value parsed as YAML")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def _parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=[2, 3]"]`` -> ``{"a": 1, "b": [2, 3]}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for kv in items:
        if "=" not in kv:
            raise ValueError(f"{flag} expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        out[k] = yaml.safe_load(v)
    return out


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = load_yaml(args.config) if args.config else {}
    for name in FLAGS:
        v = getattr(args, name)
        if v is not None:
            values[name] = v
    for name in ("resume", "skip_corrupt", "drop_last", "compile", "memory_lean"):
        if getattr(args, name):
            values[name] = True
    if args.no_progress:
        values["progress"] = False
    if args.no_amp:
        values["amp"] = False
    if args.no_tune_allocator:
        values["tune_allocator"] = False
    for key in ("method_options", "dataset_options", "model_options"):
        if key in values and values[key] is None:  # `method_options:` with nothing after it in YAML
            del values[key]
    for key, items in (("method_options", args.method_option), ("dataset_options", args.dataset_option)):
        flags = _parse_key_values(items, "--" + key[:-1].replace("_", "-"))
        base = values.get(key, {})
        if flags and isinstance(base, dict):  # a YAML value of the wrong type is reported by validate()
            values[key] = {**base, **flags}
    return TrainConfig.from_dict(values).validate()


def run(args: argparse.Namespace) -> int:
    from sadp.train import train

    cfg = config_from_args(args)
    summary = train(cfg)
    if summary:  # under torchrun only rank 0 returns the summary
        print(json.dumps({k: summary[k] for k in ("test_acc", "best_test_acc", "wall_time_s", "examples_seen")}))
    return 0
