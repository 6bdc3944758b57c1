"""The one time loop of the Numba backend, forward and backward, for every cell.

A cell contributes its fused pointwise rows (rnn.py, lstm.py, gru.py,
layernorm_lstm.py, indrnn.py: one (t, b) row each, no time loop); the loop
around them is written here once and decides the conventions for all cells:

* padding (t >= lengths[b]): y = 0, the states held, every saved row 0 (finite
  for the weight GEMMs over all rows, where it meets a zero gradient);
* eval mode: the saved arrays are (1, 1, W) scratch, written at row (0, 0)
  (``ts = bs = 0``), so the rows have no branch on "save";
* the dh carry: a backward row leaves in dh the direct part of d h_{t-1}
  (0 where h_{t-1} enters only through W_hh; GRU's dh_t * z; IndRNN's da * u)
  and the loop adds dh_rec = d_hid[t] @ W_hh to it;
* per-step phases by what the cell is: an elementwise recurrence (IndRNN) has
  no per-step product, a projected LSTM adds h = m @ W_hr^T after its rows (and
  dm = dh_out @ W_hr before them in backward).

The rows are picked by a cell number (the constants below; the backend maps
each mode to its own), one branch per step as in the C loop's switch: one
compiled loop per dtype serves every cell (``cache=True``; a closure over each
cell's row would be recompiled in every process, since numba's cache key
pickles a closure's dispatchers with a per-process id).

Arrays are C-contiguous, one dtype; ``one`` is 1 in that dtype.
"""
import numpy as np
from numba import njit

from . import gru, indrnn, layernorm_lstm, lstm, rnn

# Cell numbers (constants here: numba freezes them into the cached loop).
RNN_TANH, RNN_RELU, LSTM, LSTM_PROJ, GRU, LAYERNORM_LSTM, INDRNN_TANH, INDRNN_RELU = range(8)
# The most saved arrays a cell has (the layer-normalised LSTM's ten): the length of ``saved``.
MAX_SAVED = 10
# The most per-cell vectors (the layer-normalised LSTM's bias and four gains/shifts): ``vec``.
MAX_VECTORS = 5


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def forward(cell, xw, w_hh, w_hr, vec, h, c, lengths, reverse, save, y, saved, n_saved, one):
    """Run the recurrence of one layer-direction.

    xw (T, B, G): the input projection, with the biases the cell folds into it; w_hh (G, P), for
    IndRNN (1, H) holding u; w_hr (P, H) for the projected LSTM, else (0, 0); vec: MAX_VECTORS 1-D
    arrays, the cell's vectors (GRU: b_hh; layer-normalised LSTM: b_ih + b_hh, ln_hh w and b,
    ln_c w and b), the rest empty; h (B, P) and c (B, H) ((B, 0) without a cell state) enter as
    h0/c0 and leave as h_n/c_n; lengths (B,) int64; y (T, B, P) out; saved: MAX_SAVED arrays, the
    first n_saved the cell's saved activations in its description's order, (T, B, W) when
    ``save`` and (1, 1, W) scratch otherwise.
    """
    T, B, G = xw.shape
    indep = cell == INDRNN_TANH or cell == INDRNN_RELU
    proj = cell == LSTM_PROJ
    a = np.zeros((B, 0 if indep else G), dtype=xw.dtype)
    m = np.zeros((B, c.shape[1] if proj else 0), dtype=xw.dtype)       # m_t = o * tanh(c_t)
    h_new = np.empty((B, h.shape[1] if proj else 0), dtype=xw.dtype)
    u = w_hh[0]
    zero = one - one
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = saved
    v0, v1, v2, v3, v4 = vec
    for step in range(T):
        t = T - 1 - step if reverse else step
        ts = t if save else 0
        if not indep:
            np.dot(h, w_hh.T, a)
        for b in range(B):
            if t >= lengths[b]:
                bs = b if save else 0
                y[t, b, :] = 0
                for k in range(n_saved):
                    saved[k][ts, bs, :] = 0
                m[b, :] = 0
        # One branch per cell around its own batch loop, written out here: a row helper taking
        # the tuples (saved, vec) per call, even inlined, measured ~0.3 us slower per call (the
        # RNN 15-25% slower), so the dispatch stays in this body, once per step.
        if cell == RNN_TANH:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    rnn.forward_row_tanh(xw[t, b], a[b], h[b], y[t, b], s0[ts, bs], s1[ts, bs])
        elif cell == RNN_RELU:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    rnn.forward_row_relu(xw[t, b], a[b], h[b], y[t, b], s0[ts, bs], s1[ts, bs], zero)
        elif cell == LSTM:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    lstm.forward_row(xw[t, b], a[b], h[b], c[b], y[t, b], s0[ts, bs], s1[ts, bs], s2[ts, bs],
                                     s3[ts, bs])
        elif cell == LSTM_PROJ:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    lstm.projected_row(xw[t, b], a[b], h[b], c[b], m[b], s0[ts, bs], s1[ts, bs], s2[ts, bs],
                                       s3[ts, bs], s4[ts, bs])
        elif cell == GRU:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    gru.forward_row(xw[t, b], a[b], v0, h[b], y[t, b], s0[ts, bs], s1[ts, bs], s2[ts, bs])
        elif cell == LAYERNORM_LSTM:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    layernorm_lstm.forward_row(xw[t, b], a[b], v0, v1, v2, v3, v4, h[b], c[b], y[t, b],
                                               s0[ts, bs], s3[ts, bs], s4[ts, bs], s5[ts, bs], s6[ts, bs],
                                               s7[ts, bs], s8[ts, bs], s9[ts, bs])
        elif cell == INDRNN_TANH:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    indrnn.forward_row_tanh(xw[t, b], u, h[b], y[t, b], s0[ts, bs], s1[ts, bs])
        else:
            for b in range(B):
                if t < lengths[b]:
                    bs = b if save else 0
                    indrnn.forward_row_relu(xw[t, b], u, h[b], y[t, b], s0[ts, bs], s1[ts, bs], zero)
        if proj:
            np.dot(m, w_hr.T, h_new)
            for b in range(B):
                if t < lengths[b]:
                    h[b, :] = h_new[b, :]
                    y[t, b, :] = h_new[b, :]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(cell, dy, saved, w_hh, w_hr, vec, lengths, reverse, dh, dc, d_in, d_hid, d_extra, one):
    """BPTT of one layer-direction; dh (B, P) and dc (B, H) ((B, 0) without a cell state) enter as
    dh_n/dc_n and leave as dh0/dc0.

    dy (T, B, P); saved, w_hh, w_hr, vec as :func:`forward` took them (saved (T, B, W));
    out, zero at padded steps: d_in (T, B, G) d loss / d (the input projection), d_hid (T, B, G)
    d loss / d (h_{t-1} W_hh^T) (the same array as d_in where the two are equal), d_extra: the
    projected LSTM's dh_out (T, B, P) = d loss / d h_t, the layer-normalised LSTM's
    d loss / d LN(c_t) (T, B, H), else (T, B, 0).
    """
    T, B, _ = dy.shape
    indep = cell == INDRNN_TANH or cell == INDRNN_RELU
    proj = cell == LSTM_PROJ
    H = dc.shape[1]
    dh_rec = np.empty_like(dh)
    dm = np.empty((B, H if proj else 0), dtype=dy.dtype)
    no_dy = np.zeros(H if proj else 0, dtype=dy.dtype)
    scratch = np.empty(H if cell == LAYERNORM_LSTM else 0, dtype=dy.dtype)
    u = w_hh[0]
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = saved
    v0, v1, v2, v3, v4 = vec
    for step in range(T):
        t = step if reverse else T - 1 - step
        if proj:      # dh_out = dh + dy, then dm = dh_out @ W_hr; h_{t-1} enters only through W_hh
            for b in range(B):
                if t >= lengths[b]:
                    d_extra[t, b, :] = 0
                else:
                    d_extra[t, b, :] = dh[b, :] + dy[t, b, :]
                    dh[b, :] = 0
            np.dot(d_extra[t], w_hr, dm)
        for b in range(B):
            if t >= lengths[b]:
                d_in[t, b, :] = 0
                d_hid[t, b, :] = 0
                if not proj:
                    d_extra[t, b, :] = 0
        # One branch per cell around its batch loop, as in forward (and for the same reason).
        if cell == RNN_TANH:
            for b in range(B):
                if t < lengths[b]:
                    rnn.backward_row_tanh(dy[t, b], s1[t, b], dh[b], d_in[t, b], one)
        elif cell == RNN_RELU:
            for b in range(B):
                if t < lengths[b]:
                    rnn.backward_row_relu(dy[t, b], s1[t, b], dh[b], d_in[t, b], one)
        elif cell == LSTM:
            for b in range(B):
                if t < lengths[b]:
                    lstm.backward_row(dy[t, b], s0[t, b], s2[t, b], s3[t, b], dh[b], dc[b], d_in[t, b], one)
        elif cell == LSTM_PROJ:        # dy is already in dm = (dh + dy) @ W_hr
            for b in range(B):
                if t < lengths[b]:
                    lstm.backward_row(no_dy, s0[t, b], s2[t, b], s3[t, b], dm[b], dc[b], d_in[t, b], one)
        elif cell == GRU:
            for b in range(B):
                if t < lengths[b]:
                    gru.backward_row(dy[t, b], s0[t, b], s1[t, b], s2[t, b], dh[b], d_in[t, b], d_hid[t, b], one)
        elif cell == LAYERNORM_LSTM:
            for b in range(B):
                if t < lengths[b]:
                    layernorm_lstm.backward_row(dy[t, b], s0[t, b], s9[t, b], s5[t, b], s6[t, b], s7[t, b],
                                                s3[t, b], s4[t, b], v3, v1, dh[b], dc[b], d_in[t, b],
                                                d_hid[t, b], d_extra[t, b], scratch, one)
        elif cell == INDRNN_TANH:
            for b in range(B):
                if t < lengths[b]:
                    indrnn.backward_row_tanh(dy[t, b], s1[t, b], u, dh[b], d_in[t, b], one)
        else:
            for b in range(B):
                if t < lengths[b]:
                    indrnn.backward_row_relu(dy[t, b], s1[t, b], u, dh[b], d_in[t, b], one)
        if not indep:
            np.dot(d_hid[t], w_hh, dh_rec)
            for b in range(B):
                if t < lengths[b]:
                    dh[b, :] += dh_rec[b, :]
