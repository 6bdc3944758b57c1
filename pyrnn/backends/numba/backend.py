"""Backend "numba": Numba-JIT CPU kernels (pyrnn/backends/numba/kernels/).

Per layer-direction: one GEMM (Numba's np.dot, the same BLAS as the loop) for
the input projection of all T*B rows; the whole time loop in one compiled call
(kernels/loop.py: the recurrent product + one fused pointwise row per batch
row and step, the same loop for every cell); in backward one compiled call
for the loop, then dx and the weight gradients as single large GEMMs.
Kernels are compiled on first use and cached on disk (``cache=True``).

What is per cell here is data (:data:`_ROWS`): which biases fold into the
input projection, which vectors the loop's rows read, which arrays backward
fills and how the weight gradients are assembled from them.
"""
import importlib.util
from dataclasses import dataclass

import numpy as np

from ...cell_specs import CELLS, dim_size
from .. import register
from ..base import Backend
from ..workspace import BufferPool


def _probe():
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install numba scipy)"
    if importlib.util.find_spec("scipy") is None:
        return "scipy is not installed (Numba takes the BLAS behind np.dot from SciPy)"
    return None


@dataclass(frozen=True)
class _Row:
    """How the one loop runs a cell (the numba row of its description).

    fold: the biases added to the input projection; vectors: what the loop's rows read as ``vec``
    (parameter names; "bias" is b_ih + b_hh); input_norm: the projection is layer-normalised
    (ln_ih) before the loop; hidden_grad: backward gives d loss / d (h W_hh^T) apart from the input
    projection's gradient (GRU: b_hh sits inside r * (...); LayerNormLSTM: LN(W_hh h)); extra: the
    width of backward's third output (P: the projected LSTM's dh_out; H: LayerNormLSTM's dLN(c));
    grads: how the weight gradients are assembled (a method ``_grads_<grads>``).
    """

    fold: tuple = ("bias_ih", "bias_hh")
    vectors: tuple = ()
    input_norm: bool = False
    hidden_grad: bool = False
    extra: str = ""
    grads: str = "gated"


_ROWS = {
    "rnn_tanh": _Row(), "rnn_relu": _Row(), "lstm": _Row(),
    "lstm_proj": _Row(extra="P", grads="projected"),
    "gru": _Row(fold=("bias_ih",), vectors=("bias_hh",), hidden_grad=True),
    "layernorm_lstm": _Row(fold=(), vectors=("bias", "ln_hh_weight", "ln_hh_bias", "ln_c_weight", "ln_c_bias"),
                           input_norm=True, hidden_grad=True, extra="H", grads="layernorm"),
    "indrnn_tanh": _Row(fold=("bias_ih",), grads="independent"),
    "indrnn_relu": _Row(fold=("bias_ih",), grads="independent"),
}


class NumbaBackend(Backend):
    """Fused Numba kernels; the default where the C extension (backend "c") is not built."""

    name = "numba"
    cells = tuple(_ROWS)

    def __init__(self):
        # Imported here, not at module level: registering must stay cheap.
        from .kernels import gemm, layernorm_lstm, loop
        self._gemm, self._loop, self._ln = gemm, loop, layernorm_lstm
        # The loop's cell numbers: the constant named like the mode (loop.LSTM_PROJ for "lstm_proj").
        self._numbers = {mode: getattr(loop, mode.upper()) for mode in self.cells}
        for mode in self.cells:   # the loop takes fixed-length tuples: say which cell outgrew them
            if len(CELLS[mode].saved) > loop.MAX_SAVED or len(_ROWS[mode].vectors) > loop.MAX_VECTORS:
                raise RuntimeError(f"numba loop: cell {mode!r} has more saved arrays than MAX_SAVED "
                                   f"({loop.MAX_SAVED}) or vectors than MAX_VECTORS ({loop.MAX_VECTORS})")
        # Each cell's weight-gradient assembly, looked up once (a misspelt _Row.grads fails here).
        self._assemble_grads = {mode: getattr(self, f"_grads_{_ROWS[mode].grads}") for mode in self.cells}
        self._pool = BufferPool()

    def _project(self, x, w_ih, b1=None, b2=None):
        """x @ w_ih^T + b1 + b2 (absent biases as zeros), into a pooled (T, B, G*H) buffer."""
        T, B, _ = x.shape
        zero = np.zeros(w_ih.shape[0], dtype=x.dtype)
        xw = self._pool.take((T, B, w_ih.shape[0]), x.dtype)
        self._gemm.input_projection(x, w_ih, zero if b1 is None else b1, zero if b2 is None else b2, xw)
        return xw

    def _vectors(self, row, by_name, G, dtype):
        """The loop's ``vec``: the row's vectors (absent biases as zeros), padded with empties."""
        def vector(name):
            if name == "bias":
                b_ih, b_hh = by_name.get("bias_ih"), by_name.get("bias_hh")
                return np.zeros(G, dtype) if b_ih is None else b_ih + b_hh
            value = by_name.get(name)
            return np.zeros(G, dtype) if value is None else value
        empty = np.empty(0, dtype)
        vec = tuple(vector(n) for n in row.vectors)
        return vec + (empty,) * (self._loop.MAX_VECTORS - len(vec))

    def _saved_tuple(self, spec, arrays, dtype):
        """The loop's ``saved``: the cell's arrays in its description's order, then placeholders."""
        dummy = np.empty((1, 1, 1), dtype)
        return tuple(arrays[name] for name, _ in spec.saved) + (dummy,) * (self._loop.MAX_SAVED - len(spec.saved))

    def _forward(self, mode, x, state, weights, lengths, reverse, training):
        spec, row = CELLS[mode], _ROWS[mode]
        by_name = {p.name: w for p, w in zip(spec.params, weights)}
        T, B, _ = x.shape
        H, P = spec.sizes_of(weights)
        dtype = x.dtype
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else lengths
        w_ih, w_hh = by_name["weight_ih"], by_name["weight_hh"]
        G = w_ih.shape[0]
        xw = self._project(x, w_ih, *(by_name.get(n) for n in row.fold))
        # Training: the per-step activations backward needs (pooled); eval: (1, 1, W) scratch rows.
        widths = {name: dim_size(dim, 0, H, P) for name, dim in spec.saved}
        arrays = {name: (self._pool.take((T, B, w), dtype) if training else np.empty((1, 1, w), dtype))
                  for name, w in widths.items()}
        if row.input_norm:        # LN(x W_ih^T; ln_ih) for all rows at once; xhat and 1/std kept for backward
            xhat, x_rstd = (arrays["xhat"], arrays["x_rstd"]) if training else \
                (self._pool.take((T, B, G), dtype), self._pool.take((T, B, 1), dtype))
            self._ln.normalise_rows(xw, by_name["ln_ih_weight"], by_name["ln_ih_bias"], xhat, x_rstd)
            if not training:
                self._pool.give(xhat, x_rstd)
        vec = self._vectors(row, by_name, G, dtype)
        w_rec = w_hh.reshape(1, -1) if w_hh.ndim == 1 else w_hh      # IndRNN's u as a (1, H) row
        w_hr = by_name.get("weight_hr")
        w_hr = np.empty((0, 0), dtype) if w_hr is None else w_hr
        h = state[0].copy()
        c = state[1].copy() if len(state) == 2 else np.empty((B, 0), dtype)
        y = np.empty((T, B, P), dtype=dtype)
        self._loop.forward(self._numbers[mode], xw, w_rec, w_hr, vec, h, c, lengths, reverse, training, y,
                           self._saved_tuple(spec, arrays, dtype), len(spec.saved), dtype.type(1))
        self._pool.give(xw)
        state_n = (h, c) if len(state) == 2 else (h,)
        if not training:
            return y, state_n, None
        return y, state_n, dict(x=x, lengths=lengths, reverse=reverse, by_name=by_name, w_rec=w_rec, w_hr=w_hr,
                                vec=vec, has_bias=by_name.get("bias_ih") is not None, arrays=arrays, P=P)

    def _backward(self, mode, saved, dy, dstate_n):
        spec, row = CELLS[mode], _ROWS[mode]
        x, arrays = saved["x"], saved["arrays"]
        T, B, _ = x.shape
        dtype = x.dtype
        G = saved["by_name"]["weight_ih"].shape[0]
        H = G // spec.gates
        dh = dstate_n[0].copy()
        dc = dstate_n[1].copy() if len(dstate_n) == 2 else np.empty((B, 0), dtype)
        d_in = self._pool.take((T, B, G), dtype)
        d_hid = self._pool.take((T, B, G), dtype) if row.hidden_grad else d_in
        extra = {"P": saved["P"], "H": H}[row.extra] if row.extra else 0
        d_extra = self._pool.take((T, B, extra), dtype) if extra else np.empty((T, B, 0), dtype)
        self._loop.backward(self._numbers[mode], dy, self._saved_tuple(spec, arrays, dtype), saved["w_rec"],
                            saved["w_hr"], saved["vec"], saved["lengths"], saved["reverse"], dh, dc, d_in, d_hid,
                            d_extra, dtype.type(1))
        dx, dweights, scratch = self._assemble_grads[mode](saved, d_in, d_hid, d_extra)
        # The saved activations and the gradients are dead now: back to the pool. (A second backward
        # through the same record cannot happen: Backend.backward refuses a consumed one.)
        self._pool.give(d_in, *(() if d_hid is d_in else (d_hid,)), d_extra, *scratch, *arrays.values())
        arrays.clear()
        return dx, ((dh, dc) if len(dstate_n) == 2 else (dh,)), dweights

    # -- the weight gradients, assembled per kind of cell (GEMMs and sums over all T*B rows) --------
    def _grads_gated(self, saved, d_in, d_hid, d_extra):
        """RNN, LSTM, GRU: (dw_ih, dw_hh, db_ih, db_hh)."""
        g, x = self._gemm, saved["x"]
        dx = g.input_grad(d_in, saved["by_name"]["weight_ih"])
        return dx, g.weight_grads(d_in, d_hid, x, saved["arrays"]["h_prev"], saved["has_bias"]), ()

    def _grads_projected(self, saved, d_in, d_hid, d_extra):
        """The projected LSTM: the LSTM's four, then dW_hr = dh_out^T m, one GEMM."""
        dx, dweights, scratch = self._grads_gated(saved, d_in, d_hid, d_extra)
        return dx, dweights + (self._gemm.grad_product(d_extra, saved["arrays"]["m"]),), scratch

    def _grads_independent(self, saved, d_in, d_hid, d_extra):
        """IndRNN (w_ih, u, b_ih): du = sum over T, B of da * h_prev, no W_hh GEMM."""
        g, x = self._gemm, saved["x"]
        dx = g.input_grad(d_in, saved["by_name"]["weight_ih"])
        # Both sums through BLAS (blocked): a sequential loop over T*B rows loses float32 accuracy.
        return dx, (g.grad_product(d_in, x), g.column_sums(d_in * saved["arrays"]["h_prev"]),
                    g.column_sums(d_in) if saved["has_bias"] else None), ()

    def _grads_layernorm(self, saved, d_in, d_hid, d_extra):
        """LayerNormLSTM: LN_ih backwards, then dx and every weight gradient as GEMMs and sums."""
        g, x, arrays, by_name = self._gemm, saved["x"], saved["arrays"], saved["by_name"]
        T, B, G = d_in.shape
        da_x = self._pool.take((T, B, G), x.dtype)
        self._ln.input_norm_backward(d_in, arrays["xhat"], arrays["x_rstd"], by_name["ln_ih_weight"], da_x)
        dx = g.input_grad(da_x, by_name["weight_ih"])
        d_bias = g.column_sums(d_in)      # b_ih, b_hh, ln_ih_bias and ln_hh_bias all add to the gates
        has_bias = saved["has_bias"]
        dweights = (g.grad_product(da_x, x), g.grad_product(d_hid, arrays["h_prev"]),
                    d_bias.copy() if has_bias else None, d_bias.copy() if has_bias else None,
                    g.column_sums(d_in * arrays["xhat"]), d_bias.copy(), g.column_sums(d_in * arrays["hhat"]), d_bias,
                    g.column_sums(d_extra * arrays["chat"]), g.column_sums(d_extra))
        return dx, dweights, (da_x,)


register("numba", probe=_probe, load=NumbaBackend, priority=10)
