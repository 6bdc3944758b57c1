"""What every model in pyrnn.models shares: :class:`pyrnn.train.base.Model`, the one application base
(the language model of ``pyrnn train`` is one too)."""
from ..train.base import Model  # noqa: F401
