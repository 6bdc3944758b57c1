"""Backend "numpy": the reference implementation itself (always available)."""
from ..cell_specs import CELLS
from . import register
from .base import Backend


class NumpyBackend(Backend):
    """Runs each cell's reference math (:mod:`pyrnn.reference`): readable, exact, the slowest backend.

    It runs every registered cell: a description's reference functions are all it needs.
    """

    name = "numpy"
    cells = tuple(CELLS)

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        y, state_n, saved = CELLS[mode].forward(x, state, weights, lengths, reverse)
        return y, state_n, (saved if training else None)

    def _backward(self, mode, saved, dy, dstate_n):
        return CELLS[mode].backward(saved, dy, dstate_n)


register("numpy", probe=lambda: None, load=NumpyBackend, priority=0)
