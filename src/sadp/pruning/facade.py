"""The one object a training loop talks to: :class:`Pruner`.

Four changed lines in an ordinary PyTorch loop (marked ``# sadp``)::

    pruner = Pruner(model, len(train_ds), "sadp", ratio=0.3, epochs=E)          # sadp
    loader = DataLoader(train_ds, batch_size=64, sampler=pruner.sampler)       # sadp (was shuffle=True)
    for epoch in range(E):
        pruner.start_epoch(epoch)                                              # sadp
        for x, y in loader:                       # len(loader) is this epoch's length from here on
            out = model(x)                        # per-step logits [T, B, K] (or [B, K])
            loss = pruner.loss(out, y)                                         # sadp (was F.cross_entropy)
            optimizer.zero_grad(); loss.backward(); optimizer.step()

The pruner owns everything between the loop and the method: the method (built from the registry),
the sampler (this epoch's selection, shuffled, sharded across DDP ranks), the spike monitor
(hooks on the model, recording every training-mode forward pass of the epoch), the per-example
loss and its weights, the statistics each step feeds to ``method.observe`` (readout logits,
per-step logits, loss, spike counts of the head's input and of every spiking layer, and the
output error ||softmax(z) - y|| read off the backward pass by tensor hooks on the readout and the
losses), the DDP all-gather of those statistics and the zero weight of the padding duplicates.
It patches nothing global. A method declares what it needs with ``needs_spikes``,
``needs_layer_spikes`` and ``uses_output_error``; this class is the only place reading them.

Contract: call ``loss`` once per batch of a loader built on ``pruner.sampler``, in the loader's
order; the pruner then knows each batch's dataset indices and DDP padding by position (batches
of ``(x, y, index)``, e.g. from :class:`sadp.pruning.WithIndex`, may pass ``indices=`` as well).
A step's statistics go to the method once its backward pass is done: at the next ``loss`` call,
at ``end_epoch`` or at ``state_dict``. ``end_epoch`` is optional in a loop (the next
``start_epoch`` closes the open epoch); it returns the epoch's training loss and accuracy over the
real examples of all ranks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sadp.pruning.base import BatchStats, EpochPlan, ModelProbe, PruningMethod
from sadp.pruning.monitor import SpikeMonitor
from sadp.pruning.sampler import PruningSampler
from sadp.pruning.scores import output_error_from_gradients
from sadp.registry import METHODS
from sadp.utils import distributed as dist

Criterion = Callable[[Tensor, Tensor], Tensor]


@dataclass
class _Step:
    """One ``loss`` call waiting for its backward pass before it is observed."""

    stats: BatchStats
    valid: Tensor | None  # DDP: False at padding positions
    logit_grad: Tensor | None = field(default=None, repr=False)  # filled by tensor hooks in backward
    loss_grad: Tensor | None = field(default=None, repr=False)


class Pruner:
    """Dynamic data pruning for any training loop; see the module docstring for the loop.

    Args:
        model: the model being trained (unwrapped: hooks go on its modules; the forward pass may
            run through a DDP or compiled wrapper of it).
        num_examples: size of the training set (dataset indices are 0..num_examples-1).
        method: a registered method name (``sadp.METHODS.names()``) or a built :class:`PruningMethod`
            (its own ``ratio``, ``epochs`` and ``seed`` are used then).
        ratio: pruned fraction per pruned epoch, in [0, 1).
        epochs: epochs of the run (methods anneal to full data at the end).
        seed: selection and shuffle seed (identical on every rank).
        options: the method's options, e.g. ``{"score": "multilayer"}``.
        criterion: ``(out [T, B, K] or [B, K], y) -> [B]`` per-example losses; default cross-entropy
            of the mean readout ``out.mean(0)`` (with ``label_smoothing``), the only loss for which
            the output error is read off the backward pass (other losses: methods compute it).
        time_dim: where time is in the model's output and head input: 0 for [T, B, ...] (sadp,
            SpikingJelly multi-step), 1 for batch-first [B, T, ...] (tonic frames kept batch first).
        head: the classifier module whose input is the last spiking layer's output (default
            ``model.head``; without one, the last spiking layer's output is counted).
        spiking_types: extra neuron classes for the monitor (sadp, SpikingJelly and snnTorch
            neurons are found by type).
        probe: the model and the training set in index order, for methods that score with the
            model itself before an epoch (``grand``).
        shuffle: shuffle each epoch's selection (seeded).
        rank, world_size: this process's share under DDP (default: from ``torch.distributed``).
        device: where method state lives (default: the model's device).
    """

    def __init__(
        self,
        model: nn.Module,
        num_examples: int,
        method: str | PruningMethod = "sadp",
        *,
        ratio: float = 0.3,
        epochs: int = 1,
        seed: int = 0,
        options: dict[str, Any] | None = None,
        criterion: Criterion | None = None,
        label_smoothing: float = 0.0,
        time_dim: int = 0,
        head: nn.Module | None = None,
        spiking_types: Sequence[type] = (),
        probe: ModelProbe | None = None,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if time_dim not in (0, 1):
            raise ValueError(f"time_dim must be 0 ([T, B, ...], time first) or 1 ([B, T, ...], batch first), got {time_dim!r}")
        if device is None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
        if isinstance(method, PruningMethod):
            if method.num_examples != num_examples:
                raise ValueError(f"method was built for {method.num_examples} examples, the dataset has {num_examples}")
            self.method = method
        else:
            self.method = METHODS.build(method, num_examples, ratio=ratio, epochs=epochs, seed=seed, device=device,
                                        **(options or {}))
        self.num_examples = num_examples
        self.criterion = criterion
        self.label_smoothing = float(label_smoothing)
        self.time_dim = time_dim
        self.probe = probe
        self.rank = dist.rank() if rank is None else rank
        self.world_size = dist.world_size() if world_size is None else world_size
        self.sampler = PruningSampler(self.method, shuffle=shuffle, seed=self.method.seed,
                                      rank=self.rank, world_size=self.world_size)
        # The capability flags, read here and nowhere else.
        layers = bool(self.method.needs_layer_spikes)
        self.monitor = (SpikeMonitor(model, head=head, layers=layers, extra_types=spiking_types, time_dim=time_dim)
                        if self.method.needs_spikes or layers else None)
        self.capture_output_error = criterion is None and bool(self.method.uses_output_error)
        self.epoch: int | None = None  # the epoch started last
        self.epoch_open = False  # started and not yet ended (its method.end_epoch still due)
        self._cursor = 0  # examples of this rank's epoch order consumed by loss()
        self._pending: _Step | None = None
        self._reset_totals()

    # -- the epoch ---------------------------------------------------------------------
    def start_epoch(self, epoch: int) -> EpochPlan:
        """Close the open epoch, let the method score with the model if it does (``probe``), select
        this epoch's examples and fix their order; ``len(loader)`` is the coming epoch's from now."""
        if self.epoch_open:
            self.end_epoch()
        if self.monitor is not None:
            self.monitor.stop()  # the probe's passes are not training steps
        if self.probe is not None:
            self.method.before_epoch(epoch, self.probe)
        plan = self.sampler.set_epoch(epoch)
        self.epoch, self.epoch_open, self._cursor = epoch, True, 0
        self._reset_totals()
        if self.monitor is not None:
            self.monitor.start(training_only=True)
        return plan

    def end_epoch(self) -> dict[str, float]:
        """Observe the last step, end the method's epoch and return the epoch's training
        ``loss`` (mean per-example loss), ``accuracy`` (mean readout) and ``examples`` over the real
        examples of all ranks (DDP padding duplicates left out)."""
        if not self.epoch_open:
            raise RuntimeError("end_epoch() without an open epoch: call start_epoch(epoch) first")
        self._observe_pending()
        if self.monitor is not None:
            self.monitor.stop()
        assert self.epoch is not None
        self.method.end_epoch(self.epoch)
        self.epoch_open = False
        loss_sum, correct, seen = self._loss_sum, self._correct, self._seen
        if self.world_size > 1:
            totals = dist.all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                                      torch.tensor(float(seen), device=loss_sum.device).double()]))
            loss_sum, correct, seen = totals[0], totals[1], int(totals[2].item())
        return {"loss": loss_sum.item() / max(1, seen), "accuracy": correct.item() / max(1, seen), "examples": seen}

    # -- the step ----------------------------------------------------------------------
    def loss(self, out: Tensor, targets: Tensor, indices: Tensor | None = None) -> Tensor:
        """The weighted training loss of this batch (a scalar to call ``backward`` on).

        ``out``: the model's output for the batch, per-step logits with time in ``time_dim``
        ([T, B, K] by default) or readout logits [B, K]; ``targets``: [B] class indices;
        ``indices``: the batch's dataset indices if the loader yields them (otherwise known from
        the sampler's order). Records the batch's statistics for the method.
        """
        self._observe_pending()
        if not self.epoch_open:
            raise RuntimeError("call pruner.start_epoch(epoch) before the epoch's first loss()")
        out = out.float()
        if out.dim() == 3 and self.time_dim != 0:
            out = out.movedim(self.time_dim, 0)
        if out.dim() not in (2, 3):
            raise ValueError(f"out should be per-step logits [T, B, K] (time in time_dim) or logits [B, K], got {tuple(out.shape)}")
        batch = len(targets)
        if out.shape[-2] != batch:
            raise ValueError(f"out has {out.shape[-2]} examples in its batch dimension, targets {batch}"
                             + (" (batch-first output? pass time_dim=1)" if out.dim() == 3 and out.shape[0] == batch else ""))
        counts, layer_counts = self.monitor.take() if self.monitor is not None else (None, None)
        self._check_counts(counts, layer_counts, batch, out.shape[0] if out.dim() == 3 else None)
        indices, valid = self._positions(batch, indices, targets.device)

        z = out.mean(0) if out.dim() == 3 else out
        if self.criterion is None:
            per_example = F.cross_entropy(z, targets, reduction="none", label_smoothing=self.label_smoothing)
        else:
            per_example = self.criterion(out, targets)
        weighted = per_example if valid is None else per_example * valid  # padding: zero weight
        loss = self.method.weighted_loss(weighted, indices)

        logits = out.detach().mean(0) if out.dim() == 3 else out.detach()
        step = _Step(BatchStats(indices=indices, logits=logits, targets=targets, loss=per_example.detach(),
                                spike_counts=counts, layer_spike_counts=layer_counts,
                                step_logits=out.detach() if out.dim() == 3 else None), valid)
        if self.capture_output_error and z.requires_grad and per_example.requires_grad:
            # dL/dz_i = c_i (p_i - y_i) and dL/dl_i = c_i: backward computes ||p_i - y_i|| for free.
            z.register_hook(lambda g: setattr(step, "logit_grad", g))
            per_example.register_hook(lambda g: setattr(step, "loss_grad", g))
        self._pending = step
        self._count(per_example.detach(), logits, targets, valid)
        return loss

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The method's state (scores, counters) and the epoch position, for resuming exactly."""
        self._observe_pending()
        return {"method": self.method.state_dict(), "epoch": self.epoch, "epoch_open": self.epoch_open}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; an epoch saved open is ended by the next ``start_epoch``."""
        self.method.load_state_dict(state["method"])
        self.epoch, self.epoch_open = state.get("epoch"), bool(state.get("epoch_open", False))
        self._pending, self._cursor = None, 0
        self._reset_totals()

    def remove(self) -> None:
        """Remove the monitor's hooks from the model."""
        if self.monitor is not None:
            self.monitor.remove()

    # -- internals ---------------------------------------------------------------------
    def _positions(self, batch: int, indices: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor | None]:
        """This batch's dataset indices and (DDP) padding mask, by its position in the epoch."""
        start, stop = self._cursor, self._cursor + batch
        if stop > len(self.sampler.order):
            raise RuntimeError(
                f"loss() got {stop} examples this epoch but this rank's share has {len(self.sampler.order)}: "
                "build the loader on pruner.sampler, call start_epoch(epoch) before each epoch and loss() once per batch"
            )
        self._cursor = stop
        if indices is None:
            indices = self.sampler.order[start:stop].to(device, non_blocking=True)
        valid = None if self.world_size == 1 else self.sampler.valid[start:stop].to(device, non_blocking=True)
        return indices, valid

    def _check_counts(self, counts: Tensor | None, layer_counts: list[Tensor] | None, batch: int,
                      steps: int | None) -> None:
        """Counts must be [T, B] for this batch: one recorded forward pass per loss() call."""
        if self.monitor is None:
            return
        if counts is None:
            raise RuntimeError(
                f"pruning method {self.method.name!r} needs spike counts but none were recorded since the last loss(): "
                "run the forward pass in training mode (model.train()) with gradients enabled, after start_epoch()"
            )
        for c in [counts, *(layer_counts or [])]:
            if c.dim() != 2 or c.shape[1] != batch or (steps is not None and c.shape[0] != steps):
                expected = f"[{steps if steps is not None else 'T'}, {batch}]"
                raise ValueError(
                    f"spike counts of shape {tuple(c.shape)} do not fit this batch ({expected} expected): was the "
                    "model run more than once since the last loss(), or is it batch-first (pass time_dim=1)?"
                )

    def _observe_pending(self) -> None:
        """Feed the last step's statistics (all ranks', padding left out) to the method."""
        step, self._pending = self._pending, None
        if step is None:
            return
        stats = step.stats
        # Statistics are method bookkeeping, not part of the step's mixed-precision region.
        with torch.no_grad(), torch.autocast(stats.logits.device.type, enabled=False):
            if step.logit_grad is not None and step.loss_grad is not None:
                stats.output_error = output_error_from_gradients(step.logit_grad, step.loss_grad, stats.targets,
                                                                 self.label_smoothing)
            if step.valid is not None:
                stats = _gather(stats, step.valid)
            self.method.observe(stats)

    def _count(self, per_example: Tensor, logits: Tensor, targets: Tensor, valid: Tensor | None) -> None:
        correct = logits.argmax(1) == targets
        if valid is None:
            self._loss_sum += per_example.sum()
            self._correct += correct.sum()
            self._seen += len(targets)
        else:
            self._loss_sum += (per_example * valid).sum()
            self._correct += (correct & valid).sum()
            self._seen += int(self.sampler.valid[self._cursor - len(targets):self._cursor].sum())  # CPU mask: no sync

    def _reset_totals(self) -> None:
        device = self.method.device
        self._loss_sum = torch.zeros((), device=device)
        self._correct = torch.zeros((), device=device, dtype=torch.long)
        self._seen = 0


def _gather(stats: BatchStats, valid: Tensor) -> BatchStats:
    """All ranks' statistics of this step, concatenated in rank order, padding positions removed."""
    g = dist.all_gather_cat
    keep = g(valid.to(stats.indices.device))
    spikes = None if stats.spike_counts is None else g(stats.spike_counts, dim=1)[:, keep]
    layers = None if stats.layer_spike_counts is None else [g(c, dim=1)[:, keep] for c in stats.layer_spike_counts]
    return BatchStats(
        indices=g(stats.indices)[keep], logits=g(stats.logits)[keep], targets=g(stats.targets)[keep],
        loss=g(stats.loss)[keep], spike_counts=spikes, layer_spike_counts=layers,
        step_logits=None if stats.step_logits is None else g(stats.step_logits, dim=1)[:, keep],
        output_error=None if stats.output_error is None else g(stats.output_error)[keep],
    )
