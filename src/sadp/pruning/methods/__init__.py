"""Registered pruning methods (``sadp.registry.METHODS``); docs/methods.md lists their defaults."""
from sadp.pruning.methods import bandit, full, importance, infobatch, orderdp, random, seta, static  # noqa: F401
