/*
 * pyrnn C kernels: the layout rules, stated once.
 *
 * This header is the contract the C backend (csrc/*.c, called through cffi)
 * implements; the foundation issue ships only the rules, the kernels come
 * with the C-backend issue. They are the same rules every pyrnn backend
 * follows (pyrnn/backends/base.py):
 *
 *   Letters: T time, B batch, I input, H hidden, G gates
 *            (G = 1 for RNN, 4 for LSTM, 3 for GRU).
 *   Arrays:  C-contiguous, row-major, last index fastest, one dtype per call
 *            (float or double).
 *     x      [T][B][I]        y     [T][B][H]
 *     h0,c0  [B][H]           h_n   [B][H]
 *     w_ih   [G*H][I]         w_hh  [G*H][H]       b_ih, b_hh [G*H] (or NULL)
 *   Gate blocks in PyTorch order: LSTM i, f, g, o; GRU r, z, n with
 *     n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
 *   One call runs one layer in one direction over the whole sequence;
 *   reverse walks t = T-1 .. 0. lengths [B] (or NULL = all T): steps
 *   t >= lengths[b] hold the state and write y = 0, so the reverse direction
 *   starts at each sequence's own last step.
 *   Derivatives are taken from saved outputs: d tanh = 1 - y^2,
 *   d sigmoid = y (1 - y).
 */
#ifndef PYRNN_H
#define PYRNN_H

#define PYRNN_GATES_RNN 1
#define PYRNN_GATES_LSTM 4
#define PYRNN_GATES_GRU 3

#endif /* PYRNN_H */
