"""Registered pruning methods (``sadp.registry.METHODS``)."""
from sadp.pruning.methods import full  # noqa: F401
