"""The training loop. It prunes through the same public :class:`sadp.pruning.Pruner` a user's loop uses:

    pruner.start_epoch(e)                    # the method picks this epoch's indices and loss weights
    for x, y, idx in loader:                 # batches in pruner.sampler's order, on the training device
        out = model(inputs.encode(x))        # [T, B, K]; the pruner's monitor records spike counts
        loss = pruner.loss(out, y, idx)      # weighted per-example loss; statistics for the method
        ...                                  # backward and optimiser step (AMP, DDP)
    pruner.end_epoch()                       # last statistics, method.end_epoch, the EpochReport

Each epoch ends with an atomic checkpoint (model, optimiser, pruner state, RNG states, history),
so ``resume=True`` continues a killed run exactly as if it had not stopped.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sadp.data import DataBundle, DeviceLoader, build_dataset
from sadp.pruning import ModelAccess, Pruner
from sadp.snn import build_model
from sadp.train import distributed
from sadp.train.config import TrainConfig
from sadp.train.inputs import ModelInputs
from sadp.train.losses import per_example_loss
from sadp.train.optim import build_optimizer, cosine_lr
from sadp.utils import perf
from sadp.utils.io import atomic_torch_save, atomic_write_json, atomic_write_text
from sadp.utils.seed import rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoint.pt"
EVAL_BATCH_MIN = 256  # passes without gradients (test set, training sample, scoring) batch at least this many


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN/inf; the last checkpoint is left untouched."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return dev


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Trainer:
    """Train one configuration; ``fit()`` returns the summary dict also written to ``OUT/summary.json``."""

    def __init__(self, cfg: TrainConfig, bundle: DataBundle | None = None, model: nn.Module | None = None) -> None:
        self.cfg = cfg.validate()
        self.out = Path(cfg.out)
        self.device = distributed.setup(resolve_device(cfg.device))
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.is_main = self.rank == 0
        if cfg.tune_allocator and self.device.type == "cpu":
            perf.tune_cpu_allocator()  # before the dataset and model allocate: affects later blocks only
        seed_everything(cfg.seed, cfg.deterministic)

        self.bundle = bundle or build_dataset(
            cfg.dataset, data_dir=cfg.data_dir, subset=cfg.subset, seed=cfg.seed, skip_corrupt=cfg.skip_corrupt,
            **cfg.dataset_options,
        )
        if cfg.augment is not None:
            if cfg.augment != "none" and (cfg.augment == "event") != self.bundle.is_event:
                fits = ("event frames: use event or none" if self.bundle.is_event
                        else "images: use none, flip or crop_flip")
                raise ValueError(f"augment={cfg.augment!r} does not fit dataset {cfg.dataset!r} ({fits})")
            self.bundle = dataclasses.replace(self.bundle, augment=cfg.augment)
        self.cuda = self.device.type == "cuda"
        self.inputs = ModelInputs(self.bundle, cfg.T, cfg.encoder, channels_last=self.cuda and cfg.channels_last)
        self.model = (model or build_model(
            cfg.model, self.bundle.sample_shape, self.bundle.num_classes,
            neuron=cfg.neuron, tau=cfg.tau, surrogate=cfg.surrogate, **cfg.model_options,
        )).to(self.device)
        if cfg.memory_lean:
            from sadp.snn import set_memory_mode

            set_memory_mode(self.model, "lean")
        if cfg.backprop != "bptt":
            from sadp.snn import Backprop, set_backprop

            Backprop(cfg.backprop, cfg.backprop_steps).check_steps(self.T)
            set_backprop(self.model, cfg.backprop, cfg.backprop_steps)
        if self.cuda and cfg.channels_last and not self.bundle.is_event:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.train_model: nn.Module = self.model  # DDP wraps this one
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.train_model = DDP(self.model, device_ids=[self.device.index] if self.cuda else None)
        if cfg.compile:
            self.train_model = perf.compile_model(self.train_model)
        self.optimizer = build_optimizer(self.model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        self.amp_dtype = ((torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
                          if (self.cuda and cfg.amp) else None)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        self.num_train = len(self.bundle.train)  # type: ignore[arg-type]
        self.eval_batch_size = max(EVAL_BATCH_MIN, cfg.batch_size)
        self.pruner = Pruner(
            self.model, self.num_train, cfg.method, ratio=cfg.ratio, epochs=cfg.epochs, seed=cfg.seed,
            options=cfg.method_options, criterion=None if cfg.loss == "ce" else self._per_example_loss,
            label_smoothing=cfg.label_smoothing, model_access=self._model_access(), rank=self.rank,
            world_size=self.world_size, device=self.device,
        )
        self.pruner.check_loss(cfg.loss)
        require_training_steps(self.pruner, self.pruner.budget, cfg.ratio, cfg.batch_size, cfg.drop_last)
        self.train_loader = DeviceLoader(
            self.bundle.train, self.pruner.sampler, cfg.batch_size, self.device,
            self.inputs.transform(train=True), drop_last=cfg.drop_last, num_workers=cfg.num_workers,
        )
        self.test_loader = DeviceLoader(
            self.bundle.test, range(len(self.bundle.test)), self.eval_batch_size, self.device,  # type: ignore[arg-type]
            self.inputs.transform(train=False), num_workers=cfg.num_workers,
        )
        self.train_eval_loader = None
        if cfg.train_eval_size:  # a fixed random sample of training examples, evaluated like the test set
            g = torch.Generator().manual_seed(cfg.seed)
            sample = torch.randperm(self.num_train, generator=g)[: cfg.train_eval_size].sort().values.tolist()
            self.train_eval_loader = DeviceLoader(
                self.bundle.train, sample, self.eval_batch_size, self.device,
                self.inputs.transform(train=False), num_workers=cfg.num_workers,
            )
        # Examples drawn in at least one pruned epoch (diagnostic: who the sampler starves).
        self.drawn_when_pruned = torch.zeros(self.num_train, dtype=torch.bool)
        self.start_epoch = 0
        self.history: list[dict[str, Any]] = []
        self.prior_wall = 0.0  # wall time of earlier segments of a resumed run

    # -- helpers -----------------------------------------------------------------------
    @property
    def T(self) -> int:
        """Time steps of the model's input, as :class:`ModelInputs` resolves them (event data: the
        dataset's binning; otherwise ``cfg.T``)."""
        return self.inputs.T

    def _per_example_loss(self, out: Tensor, y: Tensor) -> Tensor:
        """[B] losses of per-step logits [T, B, K] with the configured loss."""
        cfg = self.cfg
        return per_example_loss(out, y, cfg.loss, cfg.label_smoothing, cfg.tet_lambda)

    def _autocast(self) -> torch.autocast:
        """The forward passes' mixed-precision region (``amp`` on CUDA; disabled otherwise)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None)

    def _log(self, msg: str) -> None:
        if self.is_main:
            print(msg, flush=True)

    # -- checkpointing -----------------------------------------------------------------
    def _checkpoint_state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "pruner": self.pruner.state_dict(),
            "rng": rng_state(),
            "history": self.history,
            "drawn_when_pruned": self.drawn_when_pruned,
            "wall_time_s": self.prior_wall + (time.perf_counter() - self.t_start),
            "config": self.cfg.to_dict(),
        }

    def _try_resume(self) -> None:
        path = self.out / CHECKPOINT
        if not self.cfg.resume:
            if path.exists():
                raise FileExistsError(
                    f"{path} exists from an earlier run; pass --resume to continue it or choose another --out"
                )
            return
        if not path.exists():
            self._log(f"no checkpoint at {path}; starting from scratch")
            return
        state = torch.load(path, map_location=self.device, weights_only=False)
        saved = {k: v for k, v in state["config"].items() if k not in ("resume", "progress", "device", "num_workers")}
        now = {k: v for k, v in self.cfg.to_dict().items() if k in saved}
        diff = {k: (saved[k], now[k]) for k in saved if saved[k] != now.get(k)}
        if diff:
            raise ValueError(f"--resume with a different config than the checkpoint's: {diff}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        # Checkpoints of earlier versions hold the method's state alone, saved at an epoch's end.
        self.pruner.load_state_dict(state["pruner"] if "pruner" in state else {"method": state["method"]})
        set_rng_state(state["rng"])
        self.history = state["history"]
        # absent in checkpoints of earlier versions
        self.drawn_when_pruned = state.get("drawn_when_pruned", self.drawn_when_pruned)
        self.prior_wall = state["wall_time_s"]
        self.start_epoch = state["epoch"] + 1
        self._log(f"resumed from {path} after epoch {self.start_epoch}/{self.cfg.epochs}")

    def _model_access(self) -> ModelAccess:
        """The model and the training set in index order without augmentation (loader built when
        used), for pruning methods that score with the model itself before an epoch (GraNd)."""
        def batches():
            loader = DeviceLoader(self.bundle.train, range(self.num_train), self.eval_batch_size, self.device,
                                  self.inputs.transform(train=False), num_workers=self.cfg.num_workers)
            return ((self.inputs.encode(x), y, idx) for x, y, idx in loader)

        return ModelAccess(self.model, batches, self._per_example_loss)

    # -- one epoch -----------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, Any]:
        cfg = self.cfg
        plan = self.pruner.start_epoch(epoch)  # GraNd scores with the model here, then the selection
        self.train_model.train()
        steps = len(self.train_loader)
        if steps == 0:  # a method whose epoch fell below its budget (the budget is checked up front)
            require_training_steps(self.pruner, len(plan), cfg.ratio, cfg.batch_size, cfg.drop_last)
        lr = self._lr(epoch, 0, steps)
        bar = None
        if cfg.progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr,
                       dynamic_ncols=True)
        for step, (x, y, idx) in enumerate(self.train_loader):
            lr = self._lr(epoch, step, steps)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            inp = self.inputs.encode(x)
            with self._autocast():
                out = self.train_model(inp)
                loss = self.pruner.loss(out, y, idx)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if bar is not None:
                bar.update(1)
                if step % 10 == 0 or step == steps - 1:
                    bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
        if bar is not None:
            bar.close()
        totals = self.pruner.end_epoch()  # over the real examples of all ranks (no DDP padding)
        train_loss = totals.loss
        if not math.isfinite(train_loss):
            raise NonFiniteLossError(
                f"training loss became {train_loss} in epoch {epoch + 1}; last good checkpoint kept at "
                f"{self.out / CHECKPOINT}. Try a lower --lr."
            )
        spikes = {k: getattr(totals, k) for k in ("spike_factor_mean", "spike_factor_cv", "head_silent_share")
                  if getattr(totals, k) is not None}  # spike-aware methods: from the pruner's EpochReport
        return {"train_loss": train_loss, "train_acc": totals.accuracy, "selected": len(plan), "steps": steps,
                "lr": lr, **self._selection_diagnostics(plan, totals.method), **spikes}

    def _lr(self, epoch: int, step: int, steps: int) -> float:
        cfg = self.cfg
        return cosine_lr(cfg.lr, (epoch + step / max(1, steps)) / cfg.epochs, cfg.warmup_epochs / cfg.epochs)

    def _selection_diagnostics(self, plan: Any, method_numbers: dict[str, float]) -> dict[str, Any]:
        """Per-epoch pruning diagnostics: loss-weight distribution of the kept examples,
        share of examples never drawn in any pruned epoch so far, and the method's own numbers
        (importance sampling: predicted variance ratio against uniform)."""
        w = plan.weights[plan.indices].double().cpu()
        q = torch.quantile(w, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64)) if len(w) else torch.zeros(3)
        diag: dict[str, Any] = {"weight_max": float(w.max()) if len(w) else 0.0, "weight_q50": float(q[0]),
                                "weight_q90": float(q[1]), "weight_q99": float(q[2])}
        if len(plan) < self.num_train:
            self.drawn_when_pruned[plan.indices.cpu().long()] = True
        if bool(self.drawn_when_pruned.any()):
            diag["never_drawn_pruned"] = 1.0 - float(self.drawn_when_pruned.float().mean())
        diag.update(method_numbers)  # the method's own numbers, from the pruner's EpochReport
        return diag

    @torch.no_grad()
    def evaluate(self, train_sample: bool = False) -> dict[str, float]:
        """Test loss and accuracy; with ``train_sample`` also the accuracy on the fixed training sample
        (``train_eval_size`` examples)."""
        self.model.eval()
        result: dict[str, float] = {}
        if train_sample and self.train_eval_loader is not None:
            result["train_eval_acc"] = self._loss_and_accuracy(self.train_eval_loader)[1]
        result["test_loss"], result["test_acc"] = self._loss_and_accuracy(self.test_loader)
        if "train_eval_acc" in result:
            result["generalization_gap"] = result["train_eval_acc"] - result["test_acc"]
        return result

    def _loss_and_accuracy(self, loader: DeviceLoader) -> tuple[float, float]:
        """Mean CE loss and accuracy of the model (in eval mode, no gradients) over ``loader``."""
        loss_sum, correct, n = 0.0, 0, 0
        for x, y, _ in loader:
            with self._autocast():
                out = self.model(self.inputs.encode(x)).float()
            loss_sum += per_example_loss(out, y, "ce").sum().item()
            correct += (out.mean(0).argmax(1) == y).sum().item()
            n += len(y)
        return loss_sum / n, correct / n

    # -- the run -------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        cfg = self.cfg
        self.t_start = time.perf_counter()
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self._try_resume()
        if self.is_main and self.start_epoch == 0:
            atomic_write_json(self.out / "config.json", cfg.to_dict())
        self._log(
            f"sadp: {cfg.dataset} ({self.num_train} train / {len(self.bundle.test)} test), model {cfg.model}, "
            f"T={self.T}, method {cfg.method} r={cfg.ratio}, {cfg.epochs} epochs on {self.device}"
        )
        for epoch in range(self.start_epoch, cfg.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            stats = self.train_epoch(epoch)
            if self.cuda:
                torch.cuda.synchronize()
            train_time = time.perf_counter() - t0
            # CPU seconds of this process (all threads): on a shared machine far steadier than wall time.
            train_cpu = time.process_time() - c0
            last = epoch + 1 == cfg.epochs
            if self.is_main and (last or (epoch + 1) % cfg.eval_every == 0):
                stats.update(self.evaluate(train_sample=True))
            row = {"epoch": epoch + 1, **stats, "epoch_time_s": train_time, "epoch_cpu_s": train_cpu,
                   "eval_time_s": time.perf_counter() - t0 - train_time}
            self.history.append(row)
            if self.is_main:
                atomic_torch_save(self.out / CHECKPOINT, self._checkpoint_state(epoch))
                atomic_write_text(self.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))
                done = sum(r["epoch_time_s"] + r["eval_time_s"] for r in self.history[self.start_epoch:])
                eta = done / (epoch + 1 - self.start_epoch) * (cfg.epochs - epoch - 1)
                self._log(
                    f"epoch {epoch + 1:>3}/{cfg.epochs}  loss {stats['train_loss']:.4f}  "
                    f"train {stats['train_acc']:.3f}  "
                    f"test {stats.get('test_acc', float('nan')):.3f}  kept {stats['selected']}/{self.num_train}  "
                    f"{train_time:.1f}s  ETA {_fmt_time(eta)}"
                )
            distributed.barrier()  # other ranks wait for rank 0's evaluation and checkpoint
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        if not self.is_main:
            return {}
        epoch_times = [r["epoch_time_s"] for r in self.history]
        cfg = self.cfg
        examples_seen = sum(self.pruner.trained_examples(r["selected"], cfg.batch_size, cfg.drop_last)
                            for r in self.history)
        summary = {
            "test_acc": self.history[-1]["test_acc"],
            "best_test_acc": max(r["test_acc"] for r in self.history if "test_acc" in r),
            "final_train_acc": self.history[-1]["train_acc"],
            "final_train_eval_acc": self.history[-1].get("train_eval_acc"),
            "final_generalization_gap": self.history[-1].get("generalization_gap"),
            "never_drawn_pruned": self.history[-1].get("never_drawn_pruned"),
            "wall_time_s": self.prior_wall + (time.perf_counter() - self.t_start),
            "train_time_s": sum(epoch_times),
            "train_cpu_s": sum(r.get("epoch_cpu_s", 0.0) for r in self.history),
            "examples_seen": examples_seen,
            "full_examples": self.num_train * self.cfg.epochs,
            "theoretical_speedup": self.num_train * self.cfg.epochs / max(1, examples_seen),
            "epochs": self.cfg.epochs,
            "epoch_times_s": epoch_times,
            "num_train": self.num_train,
            "num_test": len(self.bundle.test),  # type: ignore[arg-type]
            "skipped_corrupt": self.bundle.skipped_corrupt,
            "world_size": self.world_size,
            "device": str(self.device),
            "machine": perf.machine_info(),
            "config": self.cfg.to_dict(),
        }
        if self.is_main:
            atomic_write_json(self.out / "summary.json", summary)
            self._log(
                f"done: test accuracy {summary['test_acc']:.4f} (best {summary['best_test_acc']:.4f}), "
                f"wall time {summary['wall_time_s']:.1f}s (training {summary['train_time_s']:.1f}s), "
                f"examples seen {examples_seen} of {summary['full_examples']} -> {self.out / 'summary.json'}"
            )
        return summary


def require_training_steps(pruner: Pruner, selected: int, ratio: float, batch_size: int, drop_last: bool) -> None:
    """A ValueError when an epoch of ``selected`` examples would run no training step: with
    ``drop_last`` every rank drops its last incomplete batch, so a share below one batch trains
    nothing (the shares and step counts are the pruner's)."""
    if not drop_last or pruner.steps_for(selected, batch_size, drop_last) > 0:
        return
    per_rank, num_train = pruner.shard_size(selected), pruner.num_examples
    ranks = f" ({per_rank} per process on {pruner.world_size} processes)" if pruner.world_size > 1 else ""
    kept = (f"ratio {ratio} keeps {selected} of {num_train} examples" if selected < num_train
            else f"the training set has {selected} examples")
    raise ValueError(
        f"--drop-last with batch size {batch_size} would train nothing: {kept}{ranks}, fewer than one batch; "
        f"use --batch-size {per_rank} or less, a lower --ratio, or leave out --drop-last"
    )


def train(cfg: TrainConfig, **kwargs: Any) -> dict[str, Any]:
    """Train with ``cfg``; see :class:`Trainer`. Under torchrun, every rank calls this; rank 0 returns the summary."""
    try:
        return Trainer(cfg, **kwargs).fit()
    finally:
        distributed.cleanup()
