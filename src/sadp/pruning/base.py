"""The pruning interface: every method (full data, random, InfoBatch, ..., SADP) implements it.

Per epoch a method
  1. ``select(epoch)`` -> :class:`EpochPlan`: which example indices to train on and a loss
     weight per example (a dense [N] vector; only selected entries are read);
  2. ``observe(stats)`` after each trained batch: indices, logits, targets, per-example loss and
     spike counts of that batch (all detached, still on the training device);
  3. ``end_epoch(epoch)`` once the epoch's batches are done.
Its whole state (scores, counters) round-trips through ``state_dict``/``load_state_dict``
so that a resumed run selects exactly what the uninterrupted run would.

Determinism contract (multi-process training): ``observe`` only scatters per-example values by
index (duplicates resolved by ``amax``, which does not depend on order), and ``select(epoch)`` is a
function of the method state, the seed and the epoch only (its random numbers come from a CPU
generator seeded with (seed, epoch)), so every rank that observed the same batches selects the
same examples. ``observe`` never calls ``.item()``: no host sync per step.

Options: a method's keyword arguments beyond (num_examples, ratio, epochs, seed, device) are its
options (``TrainConfig.method_options``, CLI ``--method-option key=value``); unknown names and
out-of-range values raise ``ValueError`` naming the valid choices. One name per idea in every
method: ``full_first_epochs`` (full-data epochs at the start) and ``anneal`` (the share of final
epochs in the annealing tail); a method's former names for them (``former_options``: the static
methods' ``warmup_epochs``, InfoBatch's and SeTa's ``delta`` = 1 - anneal) still work, with a
FutureWarning (:func:`renamed_option`).
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import Tensor, nn

# Parameters every method takes; the rest of a constructor's keywords are its options.
COMMON_PARAMS = ("self", "num_examples", "ratio", "epochs", "seed", "device", "options")


@dataclass
class StepStats:
    """What one training step tells the pruning method about its examples (``observe``'s argument,
    assembled by :class:`sadp.pruning.Pruner`; one step's, or several steps' concatenated).

    Not to be confused with BatchNorm's batch statistics (``sadp.diagnostics.batchstats``).
    """

    indices: Tensor  # [B] long, dataset indices
    logits: Tensor  # [B, K] readout logits (mean over T for the mean readout), detached
    targets: Tensor  # [B] long
    loss: Tensor  # [B] unweighted per-example loss, detached
    spike_counts: Tensor | None = None  # [T, B] spike count of the head's input per step
    layer_spike_counts: list[Tensor] | None = None  # per spiking layer, each [T, B]
    step_logits: Tensor | None = None  # [T, B, K] per-step logits (only the per-step readout needs them)
    # [B] ||softmax(z) - y|| if the loop already has it (the Pruner reads it off the logits'
    # gradient, see scores.output_error_from_gradients); None: methods compute it from ``logits``.
    output_error: Tensor | None = None


@dataclass
class EpochPlan:
    """The epoch's selection: ``indices`` (long, CPU) and ``weights`` (dense [N] float)."""

    indices: Tensor
    weights: Tensor

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class ModelAccess:
    """The model, the training set and the loss, for methods that score examples with the model
    itself before an epoch (GraNd): the argument of :meth:`PruningMethod.before_epoch`.

    The training loop builds it (``sadp.train.Trainer`` does) and hands it to the
    :class:`sadp.pruning.Pruner` (``model_access=``), which passes it on at every ``start_epoch``.
    ``batches()`` yields ``(inputs [T, B, ...], targets [B], indices [B])`` over the whole training
    set in index order, without augmentation, on the training device; ``loss(out, y)`` maps the
    model's per-step logits [T, B, K] to per-example losses [B]. (Formerly ``ModelProbe``.)
    """

    model: nn.Module
    batches: Callable[[], Iterable[tuple[Tensor, Tensor, Tensor]]]
    loss: Callable[[Tensor, Tensor], Tensor]


DEFAULT_RATIO = 0.3  # the pruned fraction r where a pruning method is named without one (Pruner, TrainConfig)
ANNEAL = 0.125  # default annealing tail: the last 1/8 of the epochs (InfoBatch's published delta = 0.875)


def budget(num_examples: int, ratio: float) -> int:
    """K = round((1 - r) N), at least 1."""
    return max(1, int(round((1.0 - ratio) * num_examples)))


def check_option(ok: bool, method: str, message: str) -> None:
    """Raise a ValueError about an option of ``method`` unless ``ok``."""
    if not ok:
        raise ValueError(f"pruning method {method!r}: {message}")


def renamed_option(method: str, old: str, old_value: Any, new: str, new_value: Any,
                   convert: Callable[[Any], Any] | None = None) -> Any:
    """The value of option ``new`` of ``method``, which may also be given under its former name
    ``old`` (None: not given). The former name still works: ``old_value`` becomes ``new``'s value
    ``convert(old_value)`` (default: the same value) with a FutureWarning that names the new option
    and that value; giving both names is an error."""
    if old_value is None:
        return new_value
    check_option(new_value is None, method, f"{old} is the former name of {new}: give {new} only")
    try:
        value = old_value if convert is None else convert(old_value)
    except TypeError:
        raise ValueError(f"pruning method {method!r}: {old} (former name of {new}) must be a number, "
                         f"got {old_value!r}") from None
    shown = f"{value:g}" if isinstance(value, float) else repr(value)
    warnings.warn(f"pruning method {method!r}: option {old}={old_value!r} is deprecated; it means {new}={shown}, "
                  f"use that instead", FutureWarning, stacklevel=3)
    return value


def anneals(epoch: int, epochs: int, delta: float) -> bool:
    """Whether 0-based ``epoch`` is in the full-data tail that starts once the epoch count reaches
    delta * epochs: epoch + 1 > delta * epochs, i.e. epoch >= floor(delta * epochs). This is what
    InfoBatch's published sampler does (its counter is 1-based when it checks); a fractional
    delta * epochs (0.875 * 20 = 17.5 -> epochs 17, 18, 19) still anneals."""
    return epoch + 1 > delta * epochs + 1e-9  # tolerance: 0.9 * 10 must count as 9


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch, stream): selection is reproducible and
    resumable without storing RNG state, and distinct from the sampler's shuffle stream."""
    mixed = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + stream * 0x94D049BB133111EB + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)


class PruningMethod:
    """Base class. ``select`` is a template: it records the epoch and trains on full data (weight
    1) when ``ratio == 0`` or ``is_full_epoch(epoch)``; otherwise it asks ``pruned_plan(epoch)``,
    the one method every subclass implements (plus ``observe`` if it learns, ``is_full_epoch`` if
    it has a schedule).

    ``name`` is set by the registry (``@METHODS.register("name")``). Subclasses list the attributes
    that make up their learned state in ``state_attrs``; tensors among them live on
    ``self.device`` and are saved on the CPU.
    """

    name: ClassVar[str] = ""  # set by METHODS.register
    needs_spikes: ClassVar[bool] = False  # ask the Pruner to record spike counts per step
    needs_layer_spikes: ClassVar[bool] = False
    # True when every pruned epoch selects exactly ``budget`` examples (so the whole run's epoch
    # sizes, and a loop's step counts, are known before it starts: see :meth:`epoch_size`).
    exact_budget: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ()
    # Former option names the constructor still takes (see :func:`renamed_option`): old -> new.
    former_options: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        num_examples: int,
        ratio: float = 0.0,
        epochs: int = 1,
        seed: int = 0,
        device: str | torch.device = "cpu",
        **options: Any,
    ) -> None:
        label = self.name or type(self).__name__
        if options:
            valid = self.option_names()
            raise ValueError(
                f"pruning method {label!r} got unknown option(s) {sorted(options)}; "
                f"valid options: {', '.join(valid) if valid else 'none'}"
            )
        if num_examples <= 0:
            raise ValueError(f"num_examples must be positive, got {num_examples}")
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
        if epochs <= 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        self.num_examples = num_examples
        self.ratio = float(ratio)
        self.epochs = epochs
        self.seed = seed
        self.device = torch.device(device)
        self.weights = torch.ones(num_examples, device=self.device)
        self.current_epoch = 0

    @classmethod
    def option_names(cls) -> list[str]:
        """The method's options: constructor keywords beyond the common ones (former names of
        options, ``former_options``, left out)."""
        names: list[str] = []
        for klass in cls.__mro__:
            if klass is PruningMethod:
                break
            if "__init__" not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if (p.name not in COMMON_PARAMS and p.kind is not p.VAR_KEYWORD and p.name not in names
                        and p.name not in cls.former_options):
                    names.append(p.name)
        return sorted(names)

    @property
    def budget(self) -> int:
        """K, the number of examples a pruned epoch trains on."""
        return budget(self.num_examples, self.ratio)

    # -- the three calls --------------------------------------------------------------
    def select(self, epoch: int) -> EpochPlan:
        """The epoch's selection: full data when ``ratio == 0`` or :meth:`is_full_epoch`, else
        :meth:`pruned_plan`. Subclasses override the two hooks, not this."""
        self.current_epoch = epoch
        if self.ratio == 0.0 or self.is_full_epoch(epoch):
            return self.full_plan()
        return self.pruned_plan(epoch)

    def is_full_epoch(self, epoch: int) -> bool:
        """Whether ``epoch`` trains on every example with weight 1 (warm-up, annealing). Default: never."""
        return False

    def epoch_size(self, epoch: int) -> int | None:
        """How many examples ``select(epoch)`` will return, known before the run: N in full epochs,
        K (``budget``) in pruned epochs of a method with ``exact_budget``; None where the count
        depends on what training observes (InfoBatch, SeTa)."""
        if self.ratio == 0.0 or self.is_full_epoch(epoch):
            return self.num_examples
        return self.budget if self.exact_budget else None

    def pruned_plan(self, epoch: int) -> EpochPlan:
        """The selection of a pruned epoch (``ratio > 0``, not a full epoch): a function of the
        method's state, the seed and the epoch only (random numbers from :func:`epoch_generator`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement pruned_plan(epoch)")

    def observe(self, stats: StepStats) -> None:
        """Default: nothing to learn."""

    def end_epoch(self, epoch: int) -> None:
        """Default: nothing to do."""

    # True for methods whose score uses ||softmax(z) - y|| (StepStats.output_error): the Pruner
    # then reads it off the step's gradients; other methods do not pay for it.
    uses_output_error: ClassVar[bool] = False

    def epoch_diagnostics(self) -> dict[str, float]:
        """Numbers about the last selection for the per-epoch log (e.g. predicted variance ratio)."""
        return {}

    def check_loss(self, loss: str) -> None:
        """Raise a ValueError when the method's score is derived for another training loss than
        ``loss`` ("ce" on the mean-over-T logits, "tet" per step). Default: any loss fits."""

    def before_epoch(self, epoch: int, model_access: ModelAccess) -> None:
        """Hook called by :meth:`sadp.pruning.Pruner.start_epoch` before ``select(epoch)`` (when the
        Pruner was given a ``model_access``); methods that score with the model itself (GraNd) use
        it. Default: nothing."""

    # -- the loss the training loop minimises ----------------------------------------
    def weighted_loss(self, per_example_loss: Tensor, indices: Tensor) -> Tensor:
        """mean_b(w_b * l_b) with this epoch's weights."""
        return (self.weights[indices] * per_example_loss).mean()

    # -- helpers for subclasses -------------------------------------------------------
    def full_plan(self) -> EpochPlan:
        """Every example, weight 1."""
        self.weights = torch.ones(self.num_examples, device=self.device)
        return EpochPlan(torch.arange(self.num_examples), self.weights)

    def subset_plan(self, indices: Tensor, weights: Tensor | None = None) -> EpochPlan:
        """``indices`` (any device) with dense ``weights`` [N] (default: 1)."""
        self.weights = (torch.ones(self.num_examples, device=self.device) if weights is None
                        else weights.to(self.device, torch.float32))
        return EpochPlan(indices.detach().cpu().long().sort().values, self.weights)

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"weights": self.weights.cpu(), "current_epoch": self.current_epoch}
        for key in self.state_attrs:
            v = getattr(self, key)
            state[key] = v.detach().cpu().clone() if isinstance(v, Tensor) else v
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output; keys of older versions (the unused ``generator``) are ignored."""
        missing = [k for k in ("weights", *self.state_attrs) if k not in state]
        if missing:
            raise ValueError(f"state of pruning method {self.name!r} lacks {missing}: was it saved by another method?")
        self.weights = state["weights"].to(self.device)
        self.current_epoch = state.get("current_epoch", 0)
        for key in self.state_attrs:
            v = state[key]
            setattr(self, key, v.to(self.device) if isinstance(v, Tensor) else v)


def check_anneal(method: str, anneal: Any) -> float:
    """``anneal`` (the fraction of final epochs in the annealing tail) checked to lie in [0, 1]."""
    check_option(isinstance(anneal, (int, float)) and 0.0 <= anneal <= 1.0, method,
                 f"anneal (the share of final epochs in the annealing tail) must be in [0, 1], got {anneal!r}")
    return float(anneal)


class ScheduledMethod(PruningMethod):
    """A dynamic method with a full-data start and an annealing tail.

    Epoch ``e`` (0-based) trains on full data with weight 1 when ``e < full_first_epochs`` (every
    example gets a score before pruning starts) or ``anneals(e, epochs, 1 - anneal)``, i.e.
    e >= floor((1 - anneal) * epochs): InfoBatch's annealing rule with delta = 1 - anneal.

    The option names are every method's: ``full_first_epochs`` (the static methods' warm-up too)
    and ``anneal`` (InfoBatch's and SeTa's tail too, formerly their ``delta`` = 1 - anneal).
    """

    def __init__(self, num_examples: int, ratio: float = 0.0, epochs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", full_first_epochs: int = 1, anneal: float = ANNEAL,
                 **options: Any) -> None:
        super().__init__(num_examples, ratio, epochs, seed, device, **options)
        check_option(isinstance(full_first_epochs, int) and full_first_epochs >= 0, self.name,
                     f"full_first_epochs must be an integer >= 0, got {full_first_epochs!r}")
        self.full_first_epochs = full_first_epochs
        self.anneal = check_anneal(self.name, anneal)

    def is_full_epoch(self, epoch: int) -> bool:
        return epoch < self.full_first_epochs or anneals(epoch, self.epochs, 1.0 - self.anneal)


def top_k_random_ties(values: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Indices of the k largest values; ties broken by a seeded random order (device independent)."""
    perm = torch.randperm(values.numel(), generator=generator).to(values.device)
    order = torch.sort(values[perm], descending=True, stable=True).indices
    return perm[order[:k]]


def scatter_max_(target: Tensor, indices: Tensor, values: Tensor) -> None:
    """``target[indices] = values`` in place, duplicates resolved by max (order independent,
    so identical on every rank and on every backend); no host sync."""
    target.scatter_reduce_(0, indices.long(), values.to(target.dtype), reduce="amax", include_self=False)


# Former names of two classes, still importable (with a DeprecationWarning): old name -> new name.
RENAMED_CLASSES = {"ModelProbe": "ModelAccess", "BatchStats": "StepStats"}


def renamed_class(module: str, name: str) -> Any:
    """The class formerly called ``name`` (see ``RENAMED_CLASSES``), with a DeprecationWarning."""
    new = RENAMED_CLASSES[name]
    warnings.warn(f"{module}.{name} is renamed {new}: use {module}.{new}", DeprecationWarning, stacklevel=3)
    return globals()[new]


def __getattr__(name: str) -> Any:
    if name in RENAMED_CLASSES:
        return renamed_class(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
