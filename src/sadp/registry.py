"""One registry type for every named component: models, datasets, pruning methods, optimizers,
losses, neurons, surrogate gradients and input encoders.

Entries register themselves with a decorator when their module is imported; each registry
knows which modules hold its entries and imports them on first lookup, so ``MODELS.names()``
is complete without the caller importing anything first. ``TrainConfig.validate`` checks its
names against these registries and ``sadp train --help`` lists them, so an entry registered by
user code (before the config is validated) is accepted and listed like a built-in one
(docs/architecture.md, "Adding a component").
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> factory mapping with helpful errors.

    With ``name_attr`` the registry is the one source of an entry's name: ``register(name)`` sets
    that attribute of the registered object (as timm's ``register_model`` does), so classes do not
    repeat their registered name.
    """

    def __init__(self, kind: str, modules: Iterable[str] = (), name_attr: str | None = None) -> None:
        self.kind = kind
        self._modules = tuple(modules)
        self._name_attr = name_attr
        self._entries: dict[str, T] = {}
        self._help: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            if self._name_attr is not None:
                setattr(obj, self._name_attr, name)
            self._help[name] = help or (getattr(obj, "__doc__", "") or "").strip().split("\n")[0]
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove entry ``name`` (e.g. one a test registered); unknown names are an error."""
        self._load()
        if name not in self._entries:
            raise KeyError(self.unknown(name))
        del self._entries[name]
        self._help.pop(name, None)

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._modules:
                importlib.import_module(mod)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The one-line message for a name that is not registered, listing the registered ones."""
        self._load()
        return f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._entries))}"

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def build_with(self, name: str, *args: Any, **options: Any) -> Any:
        """Call entry ``name`` with ``args`` and those of ``options`` its signature names (all of
        them when it takes ``**kwargs``): an entry declares only the settings it uses."""
        entry = self.get(name)
        params = inspect.signature(entry).parameters.values()  # type: ignore[arg-type]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
            options = {k: v for k, v in options.items() if k in names}
        return entry(*args, **options)  # type: ignore[operator]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def help(self, name: str) -> str:
        self._load()
        return self._help.get(name, "")

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        """The registered names, sorted (``", ".join(REGISTRY)`` lists them)."""
        return iter(self.names())


MODELS: Registry[Callable[..., Any]] = Registry("model", ["sadp.snn.models"])
DATASETS: Registry[Callable[..., Any]] = Registry("dataset", ["sadp.data"])
METHODS: Registry[Callable[..., Any]] = Registry("pruning method", ["sadp.pruning.methods"], name_attr="name")
# (param_groups, lr=..., momentum=...) -> torch.optim.Optimizer; see sadp.train.optim
OPTIMIZERS: Registry[Callable[..., Any]] = Registry("optimizer", ["sadp.train.optim"])
# (out [T, B, K], y [B], **the options it names) -> [B] per-example losses; see sadp.train.losses
LOSSES: Registry[Callable[..., Any]] = Registry("loss", ["sadp.train.losses"])
# sadp.snn.SpikingNeuron subclasses, built with their ``from_options``; see sadp.snn.neurons
NEURONS: Registry[Any] = Registry("neuron", ["sadp.snn.neurons"])
# sadp.snn.Surrogate subclasses; the registry sets their ``name`` (the compiled kernels key on it)
SURROGATES: Registry[Any] = Registry("surrogate", ["sadp.snn.surrogate"], name_attr="name")
# (x [B, ...], T) -> [T, B, ...]; see sadp.snn.encoders
ENCODERS: Registry[Callable[..., Any]] = Registry("encoder", ["sadp.snn.encoders"])
