"""Registered pruning methods (``sadp.registry.METHODS``); docs/methods.md lists their defaults."""
from sadp.pruning.methods import bandit, full, importance, infobatch, random, static  # noqa: F401
