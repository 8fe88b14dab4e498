"""The one object a training loop talks to: :class:`Pruner`.

Five changed lines in an ordinary PyTorch loop (the import and four lines marked ``# sadp``)::

    import sadp                                                                # sadp
    pruner = sadp.Pruner(model, train_ds, "sadp", ratio=0.3, epochs=E)         # sadp
    loader = DataLoader(train_ds, batch_size=64, sampler=pruner.sampler)       # sadp (was shuffle=True)
    for epoch in range(E):
        pruner.start_epoch(epoch)                                              # sadp
        for x, y in loader:                       # len(loader) is this epoch's length from here on
            out = model(x)                        # per-step logits [T, B, K] (or [B, K])
            loss = pruner.loss(out, y)                                         # sadp (was F.cross_entropy)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
        print(pruner.end_epoch())                 # optional: what the pruner did (EpochReport)

The pruner owns everything between the loop and the method: the method (built from the registry),
the sampler (this epoch's selection, shuffled, sharded across DDP ranks), the spike monitor
(hooks on the model, recording every training-mode forward pass of the epoch), the per-example
loss and its weights, the statistics each step feeds to ``method.observe`` (readout logits,
per-step logits, loss, spike counts of the head's input and of every spiking layer, and the
output error ||softmax(z) - y|| read off the backward pass by tensor hooks on the readout and the
losses), the DDP all-gather of those statistics and the zero weight of the padding duplicates.
It patches nothing global. A method declares what it needs with ``needs_spikes``,
``needs_layer_spikes`` and ``uses_output_error``; this class is the only place reading them.

Contract: call ``start_epoch(epoch)`` at the start of every epoch (the one entry point: the
sampler's own ``set_epoch`` agrees with it or refuses) and ``loss`` once per batch of a loader built
on ``pruner.sampler``, in the loader's order; the pruner then knows each batch's dataset indices and
DDP padding by position (batches of ``(x, y, index)``, e.g. from :class:`sadp.pruning.WithIndex`,
may pass ``indices=`` as well, and are checked against the sampler's order at each epoch's first
batch). A step's statistics go to the method once its backward pass is done, in groups of at least
``FLUSH_EXAMPLES`` examples (one ``observe`` of their concatenation: methods only scatter
per-example values by index, so that equals one observe per step), at ``end_epoch`` and at
``state_dict``. ``end_epoch`` is optional in a loop (the next
``start_epoch`` closes the open epoch); it returns the epoch's :class:`EpochReport`, also kept as
``pruner.report``.

Misuse ends in one clear error line before or at the first batch, before anything is trained: a
criterion that returns a scalar (``reduction="none"`` is needed), a tuple as ``out``, a spike-aware
method on a model without spiking layers (``spiking_types=``) or without a classifier it can find
(``head=``), a sampler driven by its own ``set_epoch`` or a forgotten ``start_epoch``, batch indices
that are not the sampler's (a loader on another dataset or sampler), a dataset whose length changed.

Why one module of about 500 lines: :class:`Pruner` is one object whose methods share one epoch's
state (the sampler's order, the cursor into it, the pending steps, the running totals), and its
docstrings are the user documentation of the loop. What stands apart from that state lives
beside it: :class:`EpochReport` in ``report.py``; the pending steps, their concatenation and the
DDP all-gather in ``steps.py``; the sharding arithmetic in ``sampler.py``.
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from typing import Any, Callable, Sequence, Sized

import torch
from torch import Tensor, nn

from sadp.pruning.base import DEFAULT_RATIO, EpochPlan, ModelAccess, PruningMethod, StepStats
from sadp.pruning.monitor import SpikeMonitor, find_head, has_spiking_layer
from sadp.pruning.report import EpochReport
from sadp.pruning.sampler import PruningSampler
from sadp.pruning.scores import output_error_from_gradients, readout_cross_entropy
from sadp.pruning.steps import PendingStep, concat, gather, shape_key
from sadp.registry import METHODS
from sadp.utils import distributed

FLUSH_EXAMPLES = 1024  # steps are handed to the method once this many examples are pending

Criterion = Callable[[Tensor, Tensor], Tensor]
"""``(out, targets) -> [B]`` per-example losses; ``out`` as the model returned it (time in ``time_dim``
moved to dim 0: [T, B, K], or [B, K])."""


class Pruner:
    """Dynamic data pruning for any training loop; see the module docstring for the loop.

    What ``loss`` minimises: mean_i w_i L_i over the batch's B positions, L_i the per-example
    loss of ``criterion`` (default: cross-entropy of the mean readout) and w_i the epoch's loss
    weight of example i (0 for DDP padding duplicates). Each method's weights
    (docs/methods.md, "Loss weights"): 1 for every kept example in full-data epochs and for
    ``full``, ``random_static``, ``random_dynamic``, ``rs2``, ``ucb``, ``epsilon_greedy``, ``el2n``,
    ``forgetting``, ``grand``, ``seta`` and ``orderdp``; Horvitz-Thompson K/(N pi_i) for ``sadp``,
    ``grad_bound`` and ``loss`` (capped at ``clip``, or 1 with ``weighted=False``); 1/(1 - r) for
    the kept below-mean-loss examples of ``infobatch`` and 1 for its others.

    Args:
        model: the model being trained (unwrapped: hooks go on its modules; the forward pass may
            run through a DDP or compiled wrapper of it).
        data: the training set (its ``len`` is N; dataset indices are 0..N-1), or N as an int.
            The dataset is preferred: the pruner checks at every ``start_epoch`` that its length
            has not changed; an int is trusted (a wrong one trains on the first N examples or
            fails in the dataset), checked only against ``indices=`` passed to ``loss``.
        method: a registered method name (``sadp.METHODS.names()``) or a built :class:`PruningMethod`
            (its own ``ratio``, ``epochs`` and ``seed`` are used then).
        ratio: pruned fraction per pruned epoch, in [0, 1) (default ``DEFAULT_RATIO``, 0.3).
        epochs: epochs of the run (methods anneal to full data at the end).
        seed: selection and shuffle seed (identical on every rank).
        options: the method's options, e.g. ``{"score": "multilayer"}``.
        criterion: the training loss per example, ``(out, y) -> [B]`` (``out`` [T, B, K] with time
            moved first, or [B, K]): e.g. ``lambda out, y: F.cross_entropy(out.mean(0), y,
            reduction="none")`` or ``snntorch.functional.ce_rate_loss(reduction="none")``. A
            criterion that reduces (shape other than [B]) is refused at the first batch. Default:
            cross-entropy of the mean readout ``out.mean(0)`` (with ``label_smoothing``), the only
            loss for which the output error is read off the backward pass (other losses: methods
            compute it from the readout logits ``out.mean(0)``).
        time_dim: where time is in the model's output and head input: 0 for [T, B, ...] (sadp,
            SpikingJelly multi-step), 1 for batch-first [B, T, ...] (tonic frames kept batch first).
        head: the classifier module whose input is the last spiking layer's output. Default
            ``model.head``; else the last ``nn.Linear`` of the model (SpikingJelly and snnTorch
            stacks), whose input is checked to be non-negative at the first batch; a spike-aware
            method on a model with neither is refused.
        spiking_types: extra neuron classes for the monitor (sadp, SpikingJelly and snnTorch
            neurons are found by type).
        model_access: the model, the training set in index order and the loss
            (:class:`ModelAccess`), for methods that score with the model itself before an epoch
            (``grand``). ``probe=`` is its former name (deprecated).
        shuffle: shuffle each epoch's selection (seeded).
        rank, world_size: this process's share under DDP (default: from ``torch.distributed``).
        device: where method state lives (default: the model's device).

    Attributes:
        sampler: the :class:`PruningSampler` to build the loader on.
        report: the last ended epoch's :class:`EpochReport` (None before).
    """

    def __init__(
        self,
        model: nn.Module,
        data: Sized | int,
        method: str | PruningMethod = "sadp",
        *,
        ratio: float = DEFAULT_RATIO,
        epochs: int = 1,
        seed: int = 0,
        options: dict[str, Any] | None = None,
        criterion: Criterion | None = None,
        label_smoothing: float = 0.0,
        time_dim: int = 0,
        head: nn.Module | None = None,
        spiking_types: Sequence[type] = (),
        model_access: ModelAccess | None = None,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        device: str | torch.device | None = None,
        probe: ModelAccess | None = None,
    ) -> None:
        if probe is not None:
            if model_access is not None:
                raise TypeError("Pruner: pass model_access= only (probe= is its former name)")
            warnings.warn("Pruner(probe=...) is renamed Pruner(model_access=...)", DeprecationWarning, stacklevel=2)
            model_access = probe
        if time_dim not in (0, 1):
            raise ValueError(f"time_dim must be 0 ([T, B, ...], time first) or 1 ([B, T, ...], batch first), "
                             f"got {time_dim!r}")
        if isinstance(data, bool) or not (isinstance(data, int) or hasattr(data, "__len__")):
            raise TypeError(f"Pruner(model, data, ...): data must be the training set (with a len) or its size, "
                            f"got {type(data).__name__}")
        self.dataset: Sized | None = None if isinstance(data, int) else data
        num_examples = data if isinstance(data, int) else len(data)
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
        self.model_access = model_access
        self.rank = distributed.rank() if rank is None else rank
        self.world_size = distributed.world_size() if world_size is None else world_size
        self.sampler = PruningSampler(self.method, shuffle=shuffle, seed=self.method.seed,
                                      rank=self.rank, world_size=self.world_size)
        self.sampler.driven_by_pruner = True
        # The capability flags, read here and nowhere else.
        layers = bool(self.method.needs_layer_spikes)
        self.monitor = (self._build_monitor(model, head, layers, spiking_types)
                        if self.method.needs_spikes or layers else None)
        self.capture_output_error = criterion is None and bool(self.method.uses_output_error)
        self.epoch: int | None = None  # the epoch started last
        self.epoch_open = False  # started and not yet ended (its method.end_epoch still due)
        self.report: EpochReport | None = None
        self._plan: EpochPlan | None = None
        self._unit_weights = False
        self._cursor = 0  # examples of this rank's epoch order consumed by loss()
        self._steps = 0
        self._pending: list[PendingStep] = []  # steps whose statistics wait for the method (see _flush)
        self._pending_examples = 0
        self._reset_totals()

    def _build_monitor(self, model: nn.Module, head: nn.Module | None, layers: bool,
                       spiking_types: Sequence[type]) -> SpikeMonitor:
        name = self.method.name or type(self.method).__name__
        check: str | None = None
        if head is None:
            found = find_head(model)
            spiking = has_spiking_layer(model, spiking_types)
            if found is None or (found[0] != "head" and not spiking):
                what = "no spiking layer of a known type (sadp, SpikingJelly, snnTorch neurons)" if not spiking else \
                       "no classifier it can find (no model.head, no nn.Linear)"
                raise ValueError(
                    f"pruning method {name!r} counts the spikes entering the classifier, but the model has {what}: "
                    "pass your neuron classes as spiking_types=(...) and the classifier as head=..., or use a method "
                    "that needs no spikes (e.g. 'grad_bound', the ANN bound)"
                )
            head = found[1]
            if found[0] != "head":
                check = f"{found[0]!r} (the model's last nn.Linear, taken as the classifier)"
        return SpikeMonitor(model, head=head, layers=layers, extra_types=spiking_types, time_dim=self.time_dim,
                            check_head=check)

    # -- checks and sizing a run -------------------------------------------------------
    @property
    def budget(self) -> int:
        """K = round((1 - r) N), the examples a pruned epoch trains on (about K for methods without exact K)."""
        return self.method.budget

    def check_loss(self, loss: str) -> None:
        """Raise a ValueError when the method's score is derived for another training loss than
        ``loss`` ("ce": cross-entropy of the mean-over-T logits; "tet": per-step), before anything
        trains; a loop whose loss the method does not fit would train on wrong terms."""
        self.method.check_loss(loss)

    def steps_per_epoch(self, batch_size: int, drop_last: bool = False) -> list[int]:
        """This rank's number of batches in every epoch of the run (index = epoch), known before
        the first ``start_epoch``: size a per-step LR schedule with ``sum(...)`` (or
        :meth:`total_steps`). Exact for methods whose epoch sizes are known in advance (full data
        and annealed epochs: N; pruned epochs: K, or OrderDP's q); raises ValueError for methods whose
        pruned epochs' sizes depend on training (``infobatch``, ``seta``): for those, ``len(loader)``
        after each ``start_epoch`` is that epoch's count."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        sizes = [self.method.epoch_size(e) for e in range(self.method.epochs)]
        unknown = [e for e, size in enumerate(sizes) if size is None]
        if unknown:
            raise ValueError(
                f"pruning method {self.method.name!r} selects a number of examples that depends on training "
                f"(epochs {unknown[0]}..{unknown[-1]}), so its step counts are not known before the run: read "
                "len(loader) after each pruner.start_epoch(epoch), or use a method with exact K "
                "(e.g. 'sadp', 'random_dynamic')"
            )
        return [self.steps_for(int(size), batch_size, drop_last) for size in sizes]

    def total_steps(self, batch_size: int, drop_last: bool = False) -> int:
        """``sum(steps_per_epoch(batch_size, drop_last))``: e.g. ``OneCycleLR(opt, lr, total_steps=...)``."""
        return sum(self.steps_per_epoch(batch_size, drop_last))

    def shard_size(self, selected: int) -> int:
        """Examples this rank iterates in an epoch of ``selected``, DDP padding included:
        ceil(selected / world_size) (:meth:`PruningSampler.shard_size`)."""
        return self.sampler.shard_size(selected)

    def steps_for(self, selected: int, batch_size: int, drop_last: bool = False) -> int:
        """This rank's batches in an epoch of ``selected`` examples (``len(loader)`` once it starts)."""
        return self.sampler.batches(selected, batch_size, drop_last)

    def trained_examples(self, selected: int, batch_size: int, drop_last: bool = False) -> int:
        """Examples an epoch of ``selected`` trains on over all ranks, padding left out: ``selected``,
        or with ``drop_last`` fewer (each rank drops its last incomplete batch, padding first)."""
        return self.sampler.trained_examples(selected, batch_size, drop_last)

    # -- the epoch ---------------------------------------------------------------------
    def start_epoch(self, epoch: int) -> EpochPlan:
        """Close the open epoch, let the method score with the model if it does (``model_access``), select
        this epoch's examples and fix their order; ``len(loader)`` is the coming epoch's from now.
        Call it at the start of every epoch: it is the only way to advance the sampler."""
        if self.dataset is not None and len(self.dataset) != self.num_examples:
            raise ValueError(f"the training set now has {len(self.dataset)} examples, the Pruner was built for "
                             f"{self.num_examples}: build a new Pruner for a changed dataset")
        if self.epoch_open:
            self.end_epoch()
        if self.monitor is not None:
            self.monitor.stop()  # the scoring passes through model_access are not training steps
        if self.model_access is not None:
            self.method.before_epoch(epoch, self.model_access)
        self.sampler._starting = epoch
        try:
            plan = self.sampler.set_epoch(epoch)
        finally:
            self.sampler._starting = None
        self._plan = plan
        # Full-data epochs of a method with the default weighted_loss: the loss is the plain mean.
        self._unit_weights = (type(self.method).weighted_loss is PruningMethod.weighted_loss
                              and len(plan) == self.num_examples and bool((plan.weights == 1).all()))
        self.epoch, self.epoch_open, self._cursor, self._steps = epoch, True, 0, 0
        self._reset_totals()
        if self.monitor is not None:
            self.monitor.start(training_only=True)
        return plan

    def end_epoch(self) -> EpochReport:
        """Observe the last step, end the method's epoch and return what the epoch did
        (:class:`EpochReport`: selected and trained examples, loss, accuracy, weight range, spike
        statistics), over the real examples of all ranks (DDP padding duplicates left out)."""
        if not self.epoch_open:
            raise RuntimeError("end_epoch() without an open epoch: call pruner.start_epoch(epoch) first")
        self._flush()
        if self.monitor is not None:
            self.monitor.stop()
        assert self.epoch is not None
        self.method.end_epoch(self.epoch)
        self.epoch_open = False
        device = self.method.device
        loss_sum = (torch.cat(self._losses).double().sum() if self._losses
                    else torch.zeros((), device=device, dtype=torch.float64))
        correct = torch.cat(self._hits).sum() if self._hits else torch.zeros((), device=device, dtype=torch.long)
        seen = self._seen
        if self.world_size > 1:
            totals = distributed.all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                                      torch.tensor(float(seen), device=loss_sum.device).double()]))
            loss_sum, correct, seen = totals[0], totals[1], int(totals[2].item())
        spikes: dict[str, float | None] = {}
        if self.monitor is not None:
            nan = float("nan")
            f = torch.cat(self._factors) if self._factors else torch.zeros(0, dtype=torch.float64)  # all ranks'
            mean = float(f.mean()) if len(f) else nan
            spikes = {"spike_factor_mean": mean,
                      "spike_factor_cv": float(f.std(unbiased=False)) / mean if len(f) else nan,
                      "head_silent_share": float((f == 1.0).double().mean()) if len(f) else nan}  # f = 1: no spike
        plan = self._plan
        w = plan.weights[plan.indices.to(plan.weights.device)] if plan is not None and len(plan) else None
        self.report = EpochReport(
            epoch=self.epoch, num_examples=self.num_examples, selected=len(plan) if plan is not None else 0,
            trained=seen, steps=self._steps, loss=loss_sum.item() / max(1, seen),
            accuracy=correct.item() / max(1, seen),
            weight_min=float(w.min()) if w is not None else float("nan"),
            weight_max=float(w.max()) if w is not None else float("nan"),
            method=dict(self.method.epoch_diagnostics()), **spikes,
        )
        return self.report

    # -- the step ----------------------------------------------------------------------
    def loss(self, out: Tensor, targets: Tensor, indices: Tensor | None = None) -> Tensor:
        """The weighted training loss of this batch, mean_i w_i L_i over its B positions (a scalar
        to call ``backward`` on; see the class docstring for each method's weights w_i).

        ``out``: the model's output for the batch, one tensor: per-step outputs with time in
        ``time_dim`` ([T, B, K] by default) or readout logits [B, K]; ``targets``: [B] class
        indices; ``indices``: the batch's dataset indices if the loader yields them (otherwise known
        from the sampler's order). Records the batch's statistics for the method.
        """
        if not self.epoch_open:
            raise RuntimeError("call pruner.start_epoch(epoch) at the start of each epoch, before its first loss()")
        if not isinstance(out, Tensor):
            raise TypeError(_not_a_tensor(out))
        if out.dtype != torch.float32:
            out = out.float()
        if out.dim() == 3 and self.time_dim != 0:
            out = out.movedim(self.time_dim, 0)
        if out.dim() not in (2, 3):
            raise ValueError(f"out should be per-step logits [T, B, K] (time in time_dim) or logits [B, K], "
                             f"got {tuple(out.shape)}")
        batch = len(targets)
        if out.shape[-2] != batch:
            batch_first = out.dim() == 3 and out.shape[0] == batch
            raise ValueError(f"out has {out.shape[-2]} examples in its batch dimension, targets {batch}"
                             + (" (batch-first output? pass time_dim=1)" if batch_first else ""))
        counts, layer_counts = self.monitor.take() if self.monitor is not None else (None, None)
        self._check_counts(counts, layer_counts, batch, out.shape[0] if out.dim() == 3 else None)
        indices, valid = self._positions(batch, indices, targets.device)

        z = out.mean(0) if out.dim() == 3 else out
        if self.criterion is None:
            per_example = readout_cross_entropy(z, targets, self.label_smoothing)
        else:
            per_example = self.criterion(out, targets)
            if not isinstance(per_example, Tensor) or per_example.shape != (batch,):
                shape = tuple(per_example.shape) if isinstance(per_example, Tensor) else type(per_example).__name__
                raise ValueError(
                    f"criterion returned {shape}, not one loss per example [{batch}]: build it with "
                    'reduction="none" (e.g. F.cross_entropy(..., reduction="none"), '
                    'snntorch.functional.ce_rate_loss(reduction="none"))'
                )
        if valid is None and self._unit_weights:
            loss = per_example.mean()  # a full-data epoch: every weight 1 (mean_i w_i L_i without the gather)
        else:
            weighted = per_example if valid is None else per_example * valid  # padding: zero weight
            loss = self.method.weighted_loss(weighted, indices)

        step = PendingStep(StepStats(indices=indices, logits=z.detach(), targets=targets, loss=per_example.detach(),
                                spike_counts=counts, layer_spike_counts=layer_counts,
                                step_logits=out.detach() if out.dim() == 3 else None), valid)
        if self.capture_output_error and z.requires_grad and per_example.requires_grad:
            # dL/dz_i = c_i (p_i - y_i) and dL/dl_i = c_i: backward computes ||p_i - y_i|| for free.
            z.register_hook(lambda g: setattr(step, "logit_grad", g))
            per_example.register_hook(lambda g: setattr(step, "loss_grad", g))
        # The earlier steps' backward passes are done: hand them to the method in groups (fewer,
        # larger tensor operations than one observe per step), at the same step on every rank.
        if self._pending and (self._pending_examples >= FLUSH_EXAMPLES
                              or shape_key(self._pending[0]) != shape_key(step)):
            self._flush()
        self._pending.append(step)
        self._pending_examples += batch
        self._seen += batch if valid is None else int(self.sampler.valid[self._cursor - batch:self._cursor].sum())
        self._steps += 1
        return loss

    # -- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The method's state (scores, counters) and the epoch position, for resuming exactly."""
        self._flush()
        return {"method": self.method.state_dict(), "epoch": self.epoch, "epoch_open": self.epoch_open}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; an epoch saved open is ended by the next ``start_epoch``."""
        self.method.load_state_dict(state["method"])
        self.epoch, self.epoch_open = state.get("epoch"), bool(state.get("epoch_open", False))
        self._pending, self._pending_examples, self._cursor, self._steps, self._plan = [], 0, 0, 0, None
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
                f"loss() got {stop} examples in epoch {self.epoch} but this rank's share has "
                f"{len(self.sampler.order)}: "
                "call pruner.start_epoch(epoch) at the start of each epoch, build the loader on pruner.sampler and "
                "call loss() once per batch"
            )
        if indices is None:
            indices = self.sampler.order[start:stop]
            if indices.device != device:
                indices = indices.to(device, non_blocking=True)
        elif start == 0:  # the epoch's first batch: are these the sampler's examples? (one host sync per epoch)
            self._check_indices(indices, self.sampler.order[start:stop])
        self._cursor = stop
        valid = None if self.world_size == 1 else self.sampler.valid[start:stop].to(device, non_blocking=True)
        return indices, valid

    def _check_indices(self, indices: Tensor, expected: Tensor) -> None:
        got = indices.detach().cpu().long()
        if len(got) and int(got.max()) >= self.num_examples:
            raise ValueError(
                f"batch index {int(got.max())} is beyond the {self.num_examples} examples the Pruner was built for: "
                "pass the training set itself, Pruner(model, train_ds, ...), and build the loader on it and "
                "pruner.sampler"
            )
        if not torch.equal(got, expected):
            raise ValueError(
                "the batch's dataset indices are not the ones pruner.sampler gave for this position: build the "
                "loader on pruner.sampler over the training set the Pruner was given"
            )

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

    def _flush(self) -> None:
        """Feed the pending steps' statistics (all ranks', padding left out) to the method as one
        batch, and keep their losses, hits and spike factors for the report. Methods only scatter
        per-example values by index (base.py), so one observe of the concatenation equals one per step."""
        steps, self._pending, self._pending_examples = self._pending, [], 0
        if not steps:
            return
        stats, valid = concat(steps)
        # Statistics are method bookkeeping, not part of the step's mixed-precision region.
        device_type = stats.logits.device.type
        no_amp = torch.autocast(device_type, enabled=False) if torch.is_autocast_enabled(device_type) else nullcontext()
        with torch.no_grad(), no_amp:
            if all(s.logit_grad is not None and s.loss_grad is not None for s in steps):
                logit_grad = torch.cat([s.logit_grad for s in steps]) if len(steps) > 1 else steps[0].logit_grad
                loss_grad = torch.cat([s.loss_grad for s in steps]) if len(steps) > 1 else steps[0].loss_grad
                stats.output_error = output_error_from_gradients(logit_grad, loss_grad, stats.targets,  # type: ignore[arg-type]
                                                                 self.label_smoothing)
            hits = stats.logits.argmax(1) == stats.targets
            self._losses.append(stats.loss if valid is None else stats.loss * valid)
            self._hits.append(hits if valid is None else hits & valid)
            if valid is not None:
                stats = gather(stats, valid)
            self.method.observe(stats)
            if stats.spike_counts is not None:  # for the report: spike factor mean_t sqrt(n_t + 1) [B]
                self._factors.append((stats.spike_counts.double() + 1.0).sqrt_().mean(0))

    def _reset_totals(self) -> None:
        self._losses: list[Tensor] = []  # per step [B], padding zeroed
        self._hits: list[Tensor] = []  # per step [B] bool, padding False
        self._factors: list[Tensor] = []  # per observed step, all ranks' real examples: spike factors [B]
        self._seen = 0


def _not_a_tensor(out: Any) -> str:
    """The one-line error for a model output that is not one tensor (snnTorch nets return tuples)."""
    if isinstance(out, (tuple, list)):
        parts = ", ".join(f"out[{i}] {tuple(o.shape) if isinstance(o, Tensor) else type(o).__name__}"
                          for i, o in enumerate(out))
        return (f"pruner.loss(out, y) got a {type(out).__name__} ({parts}), not one tensor: pass the element the "
                "loss is computed from, e.g. out[0] for snnTorch's (spk_rec, mem_rec) with "
                'criterion=snntorch.functional.ce_rate_loss(reduction="none")')
    return f"pruner.loss(out, y): out must be the model's output tensor, got {type(out).__name__}"
