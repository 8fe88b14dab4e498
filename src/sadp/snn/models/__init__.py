"""Registered spiking models. Build with ``sadp.snn.build_model(name, input_shape, num_classes, ...)``."""
from sadp.snn.models import cnn, mlp, resnet  # noqa: F401  (registration side effects)
from sadp.snn.models.base import SpikingClassifier

__all__ = ["SpikingClassifier"]
