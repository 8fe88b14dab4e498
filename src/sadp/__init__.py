"""sadp: spike-aware dynamic data pruning for spiking neural networks."""
from sadp.registry import DATASETS, METHODS, MODELS

__version__ = "0.1.0"
__all__ = ["DATASETS", "METHODS", "MODELS", "__version__"]
