"""Check values from YAML or the command line against type annotations, for one-line errors.

YAML gives ``'0.5'`` for a quoted number and ``1.5`` where an integer is meant; Python would
accept both until deep inside training. :func:`type_problem` names the mismatch up front::

    type_problem("ratio", "0.5", float | None)
    # "ratio must be a number or null, got '0.5' (a string; write it without quotes)"

Only what can be checked is checked: an annotation this module does not understand (a callable,
a type variable) accepts any value.
"""
from __future__ import annotations

import collections.abc as cabc
import types
import typing
from typing import Any

_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
_SEQUENCES = (list, tuple, cabc.Sequence, cabc.MutableSequence)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)


def _args(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits ``hint`` (bool is not an integer here, an integer is a number)."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    if _is_union(hint):
        return any(matches(value, a) for a in _args(hint))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in _args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in _MAPPINGS or origin in _MAPPINGS:
        if not isinstance(value, cabc.Mapping):
            return False
        kv = _args(hint)
        return not kv or all(matches(k, kv[0]) and matches(v, kv[1]) for k, v in value.items())
    if hint in _SEQUENCES or origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        items = _args(hint)
        if origin is tuple and items and items[-1] is not Ellipsis:  # fixed-length tuple[int, str]
            return len(value) == len(items) and all(matches(v, h) for v, h in zip(value, items))
        return not items or all(matches(v, items[0]) for v in value)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation we cannot check


def describe(hint: Any) -> str:
    """``int | None`` -> "an integer or null"; ``Sequence[int]`` -> "a list of integers"."""
    if hint is Any or hint is object:
        return "any value"
    if hint is None:
        hint = type(None)
    if _is_union(hint):
        return " or ".join(describe(a) for a in _args(hint))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in _args(hint))
    if hint in _NAMES:
        return _NAMES[hint]
    if hint in _MAPPINGS or origin in _MAPPINGS:
        kv = _args(hint)
        if kv and kv[0] is str:
            return ("a mapping of names to values" if kv[1] is Any
                    else f"a mapping of names to {_plural(describe(kv[1]))}")
        return "a mapping"
    if hint in _SEQUENCES or origin in _SEQUENCES:
        items = [a for a in _args(hint) if a is not Ellipsis]
        if not items or len(set(items)) > 1:
            return "a list"
        return f"a list of {_plural(describe(items[0]))}"
    if isinstance(hint, type):
        return f"a {hint.__name__}"
    return str(hint)


def _plural(text: str) -> str:
    """"an integer" -> "integers" (descriptions without an article are kept)."""
    return text.split(" ", 1)[1] + "s" if text.startswith(("a ", "an ")) and " or " not in text else text


def _kind(value: Any) -> str:
    """What a value is, in YAML's words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, cabc.Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return describe(type(value))


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def type_problem(name: str, value: Any, hint: Any) -> str | None:
    """None when ``value`` fits ``hint``, else "NAME must be ..., got VALUE (...)"."""
    if matches(value, hint):
        return None
    got = f"{value!r} ({_kind(value)}"
    if isinstance(value, str) and _looks_numeric(value) and (matches(1.5, hint) or matches(1, hint)):
        got += "; write it without quotes"
    elif isinstance(value, float) and value.is_integer() and matches(1, hint):
        got += f"; write {int(value)}"
    return f"{name} must be {describe(hint)}, got {got})"


def hints_of(obj: Any) -> dict[str, Any]:
    """Evaluated annotations of a class or function (string annotations resolved); {} when they cannot be."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # an annotation naming something unimportable: check nothing rather than fail
        return {}
