"""Drop-in torch.nn recurrent modules whose forward and backward run pyrnn kernels.

    import pyrnn.torch as prt
    lstm = prt.LSTM(32, 64, num_layers=2, batch_first=True)   # instead of torch.nn.LSTM(...)
    out, (h_n, c_n) = lstm(x)                                   # x a CPU tensor, autograd as usual

Same constructor arguments, parameters, state_dict keys and forward
signatures as torch.nn.RNN / LSTM / GRU / RNNCell / LSTMCell / GRUCell
(PackedSequence input and hx included), plus a keyword ``backend``. Needs
torch (imported only here; the rest of pyrnn never imports it).
"""
try:
    import torch as _torch  # noqa: F401
except ImportError as exc:      # pragma: no cover - exercised where torch is absent
    raise ImportError("pyrnn.torch needs PyTorch (pip install torch); the rest of pyrnn works without it") \
        from exc

from .function import DirectionRun, run_direction
from .modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

# torch.load's default weights_only=True refuses classes nobody allowlisted. A program that
# allowlists its own classes and torch.nn's must load a model holding these drop-ins without
# naming pyrnn's: they are plain nn.Module subclasses (parameters, ints, bools, a backend name),
# so they are registered as safe once, here.
_torch.serialization.add_safe_globals([RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell])

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "DirectionRun", "run_direction"]
