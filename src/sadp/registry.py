"""One registry type for models, datasets and pruning methods.

Entries register themselves with a decorator when their module is imported; each registry
knows which modules hold its entries and imports them on first lookup, so ``MODELS.names()``
is complete without the caller importing anything first.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterable, TypeVar

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
            raise KeyError(
                f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._entries))}"
            ) from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def help(self, name: str) -> str:
        self._load()
        return self._help.get(name, "")

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries


MODELS: Registry[Callable[..., Any]] = Registry("model", ["sadp.snn.models"])
DATASETS: Registry[Callable[..., Any]] = Registry("dataset", ["sadp.data"])
METHODS: Registry[Callable[..., Any]] = Registry("pruning method", ["sadp.pruning.methods"], name_attr="name")
