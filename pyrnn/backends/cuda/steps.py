"""The time-step orchestration of the CUDA kernels (kernels/*.cu), written once.

Generic over an array module ``xp`` and a ``launch(kernel_name, n_elements, *args)``
callable, so that the same Python drives

* the GPU (backend "cuda": ``xp`` = cupy, GEMMs through cuBLAS, ``launch`` a
  RawKernel launch), and
* the host shim (backend "cuda_host": ``xp`` = numpy, the same kernel sources
  compiled for the CPU by g++, ``launch`` a ctypes call that runs the grid of
  simulated threads), which is how the kernels are verified without a GPU.

Per layer-direction, forward: one GEMM for the input projection of all T*B
rows; per step one GEMM ``hw = h @ W_hh^T`` and ONE fused pointwise kernel
(``<cell>_forward_step``) that applies the gates, updates the state, writes y
and saves what backward needs. Backward, per step in reverse order: ONE fused
kernel (``<cell>_backward_step``) for every gate gradient, then one GEMM
``dh_rec = dG_hid[t] @ W_hh``; after the loop dx, dW_ih and dW_hh as single
GEMMs and the bias gradients as sums. Kernel arguments: ints and arrays only
(C-contiguous, the call's dtype; lengths int64), sizes first.

State buffers: in training the states live in one (T+1, B, H) array ``hbuf``
(and ``cbuf`` for the LSTM) in TIME order: the state entering step t is slot
t (forward direction) or t+1 (reverse), the state it leaves slot t+1 (or t).
So the states entering every step - what the weight gradient of W_hh and the
LSTM/GRU backward need - are a contiguous slice, saved without a copy. In eval
mode two slots ping-pong. Nothing is allocated inside the time loops.
"""
from ...cell_specs import CELLS
from ..base import BASE_CELLS, kernel_weights

# The cells these kernels run: the elementwise IndRNN recurrence sits in its step kernel (no GEMM);
# the projected LSTM adds a GEMM h = m W_hr^T per step (h of width P, c of width H); the
# layer-normalised LSTM has its own step sequence (_LayerNormSteps: row-statistics kernels).
CUDA_CELLS = BASE_CELLS + ("indrnn_tanh", "indrnn_relu", "lstm_proj", "layernorm_lstm")
_CELL_STATE = ("lstm", "lstm_proj")


def kernel_files(modes=CUDA_CELLS):
    """The kernel sources of ``modes``, forward then backward per kernel name, each once:
    ("lstm_forward.cu", "lstm_backward.cu", ...) from the descriptions' ``kernel``."""
    names = dict.fromkeys(CELLS[mode].kernel for mode in modes)
    return tuple(f"{name}_{direction}.cu" for name in names for direction in ("forward", "backward"))


KERNEL_FILES = kernel_files()       # what backend "cuda" compiles and the host shim includes


def _independent(mode):
    return CELLS[mode].kernel == "indrnn"


def kernel_suffix(dtype):
    """'f32' or 'f64' for the kernel instantiation of ``dtype``; TypeError otherwise."""
    name = getattr(dtype, "name", str(dtype))
    if name == "float32":
        return "f32"
    if name == "float64":
        return "f64"
    raise TypeError(f"the CUDA kernels compute in float32 or float64, got {name}")


class StepRunner:
    """forward/backward of the backend contract (pyrnn/backends/base.py) on ``xp`` arrays.

    Every array argument must already be an ``xp`` array; results are ``xp``
    arrays, each new memory (nothing aliases an input or another result).
    ``recurrence(mode, reverse, training, lengths, xw, w_hh, hbuf, cbuf, y, gates, extra)``,
    optional, may run the whole forward time loop itself (True) or decline (False).
    """

    def __init__(self, xp, launch, recurrence=None):
        self.xp = xp
        self.launch = launch
        self.recurrence = recurrence
        self._layernorm = _LayerNormSteps(xp, launch)

    # ------------------------------------------------------------------ forward
    def forward(self, mode, x, state, weights, lengths, reverse, training):
        if mode == "layernorm_lstm":
            return self._layernorm.forward(x, state, weights, lengths, reverse, training)
        xp = self.xp
        T, B, I = x.shape
        dtype = x.dtype
        sfx = kernel_suffix(dtype)
        # IndRNN: (w_ih, u, b_ih), no b_hh; w_hr only for lstm_proj.
        w_ih, w_hh, b_ih, b_hh, w_hr = kernel_weights(mode, weights, lambda w: xp.ascontiguousarray(w, dtype=dtype))
        H, P = CELLS[mode].sizes_of(weights)
        GH = CELLS[mode].gates * H
        x = xp.ascontiguousarray(x)
        lengths = (xp.full(B, T, dtype=xp.int64) if lengths is None
                   else xp.ascontiguousarray(lengths, dtype=xp.int64))

        # Input projection: one GEMM over all T*B rows. GRU keeps b_hh for its step
        # kernel (r multiplies W_hn h + b_hn); RNN and LSTM fold both biases in here.
        xw = xp.empty((T, B, GH), dtype=dtype)
        xp.matmul(x.reshape(T * B, I), w_ih.T, out=xw.reshape(T * B, GH))
        if mode == "gru":
            if b_ih is not None:
                xw += b_ih
            bias_hh = xp.zeros(GH, dtype=dtype) if b_hh is None else b_hh
        else:
            bias = [b for b in (b_ih, b_hh) if b is not None]
            if bias:
                xw += bias[0] if len(bias) == 1 else bias[0] + bias[1]

        n_slots = T + 1 if training else 2
        hbuf = xp.empty((n_slots, B, P), dtype=dtype)
        cbuf = xp.empty((n_slots, B, H), dtype=dtype) if mode in _CELL_STATE else None
        first = (T if reverse else 0) if training else 0
        hbuf[first] = state[0]
        if cbuf is not None:
            cbuf[first] = state[1]
        y = xp.empty((T, B, P), dtype=dtype)
        hw = xp.empty((B, GH), dtype=dtype)
        n_saved = T if training else 1           # eval: one scratch step, overwritten each step
        gated = mode in ("lstm", "gru", "lstm_proj")
        gates = xp.empty((n_saved, B, GH), dtype=dtype) if gated else None
        extra = xp.empty((n_saved, B, H), dtype=dtype) if gated else None  # tanh_c | hn
        m = xp.empty((n_saved, B, H), dtype=dtype) if mode == "lstm_proj" else None   # o * tanh(c), for dW_hr
        name = f"{CELLS[mode].kernel}_forward_step_{sfx}"
        relu = int(mode.endswith("relu"))
        launch, n = self.launch, B * H
        w_hh_t = w_hh.T
        indep = _independent(mode)
        # A backend may run the whole loop in one kernel instead (cuda's opt-in persistent LSTM),
        # writing the same buffers; it returns False where it does not apply.
        fused = self.recurrence is not None and self.recurrence(
            mode, reverse, training, lengths, xw, w_hh, hbuf, cbuf, y, gates, extra)
        for step in range(0 if fused else T):
            t = T - 1 - step if reverse else step
            if training:
                s_in, s_out, s = (t + 1, t, t) if reverse else (t, t + 1, t)
            else:
                s_in, s_out, s = step % 2, (step + 1) % 2, 0
            h_in = hbuf[s_in]
            if indep:      # u * h is part of the step kernel
                launch(name, n, B, H, t, lengths, relu, xw[t], w_hh, h_in, hbuf[s_out], y[t])
                continue
            xp.matmul(h_in, w_hh_t, out=hw)
            if mode == "lstm_proj":   # the cell gives m; h = m W_hr^T; then padded rows hold h, y written
                launch(name, n, B, H, t, lengths, xw[t], hw, cbuf[s_in], cbuf[s_out], m[s], gates[s], extra[s])
                xp.matmul(m[s], w_hr.T, out=hbuf[s_out])
                launch(f"lstmp_project_step_{sfx}", B * P, B, P, t, lengths, h_in, hbuf[s_out], y[t])
            elif mode == "lstm":
                launch(name, n, B, H, t, lengths, xw[t], hw, h_in, cbuf[s_in], hbuf[s_out], cbuf[s_out],
                       y[t], gates[s], extra[s])
            elif mode == "gru":
                launch(name, n, B, H, t, lengths, xw[t], hw, bias_hh, h_in, hbuf[s_out], y[t], gates[s],
                       extra[s])
            else:
                launch(name, n, B, H, t, lengths, relu, xw[t], hw, h_in, hbuf[s_out], y[t])
        last = ((0 if reverse else T) if training else T % 2)
        state_n = (hbuf[last].copy(),) if cbuf is None else (hbuf[last].copy(), cbuf[last].copy())
        if not training:
            return y, state_n, None
        saved = dict(mode=mode, x=x, w_ih=w_ih, w_hh=w_hh, w_hr=w_hr, lengths=lengths, reverse=bool(reverse),
                     has_bias=b_ih is not None, hbuf=hbuf, cbuf=cbuf, gates=gates, extra=extra, m=m)
        return y, state_n, saved

    # ----------------------------------------------------------------- backward
    def backward(self, mode, saved, dy, dstate_n):
        if mode == "layernorm_lstm":
            return self._layernorm.backward(saved, dy, dstate_n)
        xp = self.xp
        x, w_ih, w_hh = saved["x"], saved["w_ih"], saved["w_hh"]
        lengths, reverse = saved["lengths"], saved["reverse"]
        T, B, I = x.shape
        dtype = x.dtype
        sfx = kernel_suffix(dtype)
        H = CELLS[mode].hidden_of(w_hh.shape)
        GH = CELLS[mode].gates * H
        dy = xp.ascontiguousarray(dy, dtype=dtype)
        hbuf, cbuf = saved["hbuf"], saved["cbuf"]
        P = hbuf.shape[-1]
        # States entering each step t, in time order (see the module docstring).
        h_prev = hbuf[1:] if reverse else hbuf[:T]
        dh_dir = xp.array(dstate_n[0], dtype=dtype, order="C", copy=True)
        dh_rec = xp.zeros((B, P), dtype=dtype)
        # The gate gradients overwrite the saved gates: one forward serves one backward.
        if mode in _CELL_STATE:
            dc = xp.array(dstate_n[1], dtype=dtype, order="C", copy=True)
            c_prev = cbuf[1:] if reverse else cbuf[:T]
            gd = d_hid = saved.pop("gates")
            tanh_c = saved.pop("extra")
        elif mode == "gru":
            gd = saved.pop("gates")
            hn = saved.pop("extra")
            d_hid = xp.empty((T, B, GH), dtype=dtype)
        else:
            gd = d_hid = xp.empty((T, B, H), dtype=dtype)
            h_new = hbuf[:T] if reverse else hbuf[1:]      # state each step t produced
        name = f"{CELLS[mode].kernel}_backward_step_{sfx}"
        relu = int(mode.endswith("relu"))
        launch, n = self.launch, B * H
        if _independent(mode):
            return self._independent_backward(name, saved, dy, dh_dir, gd, h_new, h_prev, relu)
        if mode == "lstm_proj":
            # d loss / d h_t per step (P units) for dW_hr; dm = dh_t W_hr is the LSTM gate kernel's
            # "dy", with zeros as its two dh parts (all of d h_{t-1} comes through W_hh and dh_rec).
            dh_out = xp.empty((T, B, P), dtype=dtype)
            dm = xp.empty((B, H), dtype=dtype)
            no_rec, no_dir = xp.zeros((B, H), dtype=dtype), xp.zeros((B, H), dtype=dtype)
            name = f"lstm_backward_step_{sfx}"
        for step in range(T):
            t = step if reverse else T - 1 - step       # the forward's order, reversed
            if mode == "lstm_proj":
                launch(f"lstmp_project_backward_step_{sfx}", B * P, B, P, t, lengths, dy[t], dh_rec, dh_dir,
                       dh_out[t])
                xp.matmul(dh_out[t], saved["w_hr"], out=dm)
                launch(name, n, B, H, t, lengths, dm, no_rec, no_dir, dc, gd[t], c_prev[t], tanh_c[t])
            elif mode == "lstm":
                launch(name, n, B, H, t, lengths, dy[t], dh_rec, dh_dir, dc, gd[t], c_prev[t], tanh_c[t])
            elif mode == "gru":
                launch(name, n, B, H, t, lengths, dy[t], dh_rec, dh_dir, gd[t], d_hid[t], h_prev[t], hn[t])
            else:
                launch(name, n, B, H, t, lengths, relu, dy[t], dh_rec, dh_dir, h_new[t], gd[t])
            xp.matmul(d_hid[t], w_hh, out=dh_rec)
        dh0 = dh_dir + dh_rec
        dstate0 = (dh0, dc) if mode in _CELL_STATE else (dh0,)

        # After the loop: dx and the weight gradients as single GEMMs over all T*B rows.
        gd2 = gd.reshape(T * B, GH)
        dx = xp.matmul(gd2, w_ih).reshape(T, B, I)
        dw_ih = xp.matmul(gd2.T, x.reshape(T * B, I))
        dhid2 = d_hid.reshape(T * B, GH)
        dw_hh = xp.matmul(dhid2.T, h_prev.reshape(T * B, P))
        if saved["has_bias"]:
            db_ih = gd2.sum(axis=0)
            db_hh = db_ih.copy() if d_hid is gd else dhid2.sum(axis=0)
        else:
            db_ih = db_hh = None
        if mode == "lstm_proj":   # dW_hr = sum over t, b of dh_t m_t^T, one GEMM
            dw_hr = xp.matmul(dh_out.reshape(T * B, P).T, saved.pop("m").reshape(T * B, H))
            return dx, dstate0, (dw_ih, dw_hh, db_ih, db_hh, dw_hr)
        return dx, dstate0, (dw_ih, dw_hh, db_ih, db_hh)

    def _independent_backward(self, name, saved, dy, dh, gd, h_new, h_prev, relu):
        """IndRNN: the step kernel carries dh itself (dh <- u * da); du is a sum, not a GEMM."""
        xp = self.xp
        x, w_ih, u, lengths = saved["x"], saved["w_ih"], saved["w_hh"], saved["lengths"]
        T, B, I = x.shape
        H = u.shape[-1]
        for step in range(T):
            t = step if saved["reverse"] else T - 1 - step
            self.launch(name, B * H, B, H, t, lengths, relu, dy[t], u, dh, h_new[t], gd[t])
        gd2 = gd.reshape(T * B, H)
        dx = xp.matmul(gd2, w_ih).reshape(T, B, I)
        dw_ih = xp.matmul(gd2.T, x.reshape(T * B, I))
        du = (gd * h_prev).sum(axis=(0, 1))
        db_ih = gd2.sum(axis=0) if saved["has_bias"] else None
        return dx, (dh,), (dw_ih, du, db_ih)


class _LayerNormSteps:
    """The layer-normalised LSTM's steps (kernels/lnlstm_forward.cu, lnlstm_backward.cu).

    A layer norm needs its whole row, so besides the one-thread-per-element kernels there are
    row-statistics kernels (one thread per row) between them; buffers and time order as for the
    LSTM (hbuf, cbuf in time order when training). Weights: the LSTM's four, then ln_ih (w, b),
    ln_hh (w, b), ln_c (w, b).
    """

    def __init__(self, xp, launch):
        self.xp, self.launch = xp, launch

    def forward(self, x, state, weights, lengths, reverse, training):
        xp, launch = self.xp, self.launch
        T, B, I = x.shape
        dtype = x.dtype
        sfx = kernel_suffix(dtype)
        w_ih, w_hh, b_ih, b_hh, ln_ih_w, ln_ih_b, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b = (
            None if w is None else xp.ascontiguousarray(w, dtype=dtype) for w in weights)
        H = w_hh.shape[-1]
        G = 4 * H
        x = xp.ascontiguousarray(x)
        lengths = (xp.full(B, T, dtype=xp.int64) if lengths is None
                   else xp.ascontiguousarray(lengths, dtype=xp.int64))
        xw = xp.empty((T, B, G), dtype=dtype)
        xp.matmul(x.reshape(T * B, I), w_ih.T, out=xw.reshape(T * B, G))
        xhat = xp.empty((T, B, G), dtype=dtype)
        x_rstd = xp.empty((T, B), dtype=dtype)
        launch(f"lnlstm_input_norm_{sfx}", T * B, T * B, G, xw, ln_ih_w, ln_ih_b, xhat, x_rstd)
        bias = xp.zeros(G, dtype=dtype) if b_ih is None else b_ih + b_hh
        n_slots = T + 1 if training else 2
        hbuf = xp.empty((n_slots, B, H), dtype=dtype)
        cbuf = xp.empty((n_slots, B, H), dtype=dtype)
        first = (T if reverse else 0) if training else 0
        hbuf[first], cbuf[first] = state[0], state[1]
        n_saved = T if training else 1
        gates, hhat = xp.empty((n_saved, B, G), dtype=dtype), xp.empty((n_saved, B, G), dtype=dtype)
        chat, tanh_n = xp.empty((n_saved, B, H), dtype=dtype), xp.empty((n_saved, B, H), dtype=dtype)
        h_rstd, c_rstd = xp.empty((n_saved, B), dtype=dtype), xp.empty((n_saved, B), dtype=dtype)
        h_mean, c_mean = xp.empty(B, dtype=dtype), xp.empty(B, dtype=dtype)
        hw = xp.empty((B, G), dtype=dtype)
        y = xp.empty((T, B, H), dtype=dtype)
        w_hh_t = w_hh.T
        for step in range(T):
            t = T - 1 - step if reverse else step
            if training:
                s_in, s_out, s = (t + 1, t, t) if reverse else (t, t + 1, t)
            else:
                s_in, s_out, s = step % 2, (step + 1) % 2, 0
            xp.matmul(hbuf[s_in], w_hh_t, out=hw)
            launch(f"lnlstm_row_stats_{sfx}", B, B, G, hw, h_mean, h_rstd[s])
            launch(f"lnlstm_forward_gates_{sfx}", B * H, B, H, t, lengths, xw[t], hw, bias, ln_hh_w, ln_hh_b,
                   h_mean, h_rstd[s], cbuf[s_in], cbuf[s_out], gates[s], hhat[s])
            launch(f"lnlstm_row_stats_{sfx}", B, B, H, cbuf[s_out], c_mean, c_rstd[s])
            launch(f"lnlstm_forward_out_{sfx}", B * H, B, H, t, lengths, gates[s], cbuf[s_out], c_mean, c_rstd[s],
                   ln_c_w, ln_c_b, hbuf[s_in], hbuf[s_out], y[t], chat[s], tanh_n[s])
        last = (0 if reverse else T) if training else T % 2
        state_n = (hbuf[last].copy(), cbuf[last].copy())
        if not training:
            return y, state_n, None
        saved = dict(x=x, w_ih=w_ih, w_hh=w_hh, ln_ih_w=ln_ih_w, ln_hh_w=ln_hh_w, ln_c_w=ln_c_w, lengths=lengths,
                     reverse=bool(reverse), has_bias=b_ih is not None, hbuf=hbuf, cbuf=cbuf, gates=gates, hhat=hhat,
                     h_rstd=h_rstd, chat=chat, c_rstd=c_rstd, tanh_n=tanh_n, xhat=xhat, x_rstd=x_rstd)
        return y, state_n, saved

    def backward(self, saved, dy, dstate_n):
        xp, launch = self.xp, self.launch
        x, w_ih, w_hh, lengths, reverse = (saved[k] for k in ("x", "w_ih", "w_hh", "lengths", "reverse"))
        T, B, I = x.shape
        dtype = x.dtype
        sfx = kernel_suffix(dtype)
        H = w_hh.shape[-1]
        G = 4 * H
        dy = xp.ascontiguousarray(dy, dtype=dtype)
        hbuf, cbuf = saved["hbuf"], saved["cbuf"]
        h_prev = hbuf[1:] if reverse else hbuf[:T]
        c_prev = cbuf[1:] if reverse else cbuf[:T]
        # gd: the saved gates in, d loss / d gate pre-activations out; tanh_n becomes d LN(c), chat
        # and hhat the products the gains' gradients sum (one forward serves one backward).
        gd, hhat, chat, tanh_n = saved.pop("gates"), saved.pop("hhat"), saved.pop("chat"), saved.pop("tanh_n")
        dh_dir = xp.array(dstate_n[0], dtype=dtype, order="C", copy=True)
        dc = xp.array(dstate_n[1], dtype=dtype, order="C", copy=True)
        dh_rec = xp.zeros((B, H), dtype=dtype)
        d_hid = xp.empty((T, B, G), dtype=dtype)
        m1, m2 = xp.empty(B, dtype=dtype), xp.empty(B, dtype=dtype)
        for step in range(T):
            t = step if reverse else T - 1 - step
            launch(f"lnlstm_backward_out_{sfx}", B * H, B, H, t, lengths, dy[t], dh_rec, dh_dir, gd[t], tanh_n[t])
            launch(f"lnlstm_backward_means_{sfx}", B, B, H, tanh_n[t], saved["ln_c_w"], chat[t], m1, m2)
            launch(f"lnlstm_backward_gates_{sfx}", B * H, B, H, t, lengths, gd[t], tanh_n[t], chat[t],
                   saved["c_rstd"][t], m1, m2, saved["ln_c_w"], c_prev[t], dc)
            launch(f"lnlstm_backward_means_{sfx}", B, B, G, gd[t], saved["ln_hh_w"], hhat[t], m1, m2)
            launch(f"lnlstm_backward_hidden_{sfx}", B * G, B, H, t, lengths, gd[t], hhat[t], saved["h_rstd"][t],
                   m1, m2, saved["ln_hh_w"], d_hid[t])
            xp.matmul(d_hid[t], w_hh, out=dh_rec)
        dh0 = dh_dir + dh_rec
        da_x = xp.empty((T, B, G), dtype=dtype)
        xhat = saved.pop("xhat")
        launch(f"lnlstm_input_norm_backward_{sfx}", T * B, T * B, G, gd, xhat, saved["x_rstd"], saved["ln_ih_w"],
               da_x)
        rows = lambda a: a.reshape(T * B, a.shape[-1])   # noqa: E731  (T, B, F) -> (T*B, F)
        dx = xp.matmul(rows(da_x), w_ih).reshape(T, B, I)
        dw_ih = xp.matmul(rows(da_x).T, rows(x))
        dw_hh = xp.matmul(rows(d_hid).T, rows(h_prev))
        d_shift = rows(gd).sum(axis=0)       # b_ih, b_hh and both LN shifts of the gates add to them
        biases = (d_shift.copy(), d_shift.copy()) if saved["has_bias"] else (None, None)
        return dx, (dh0, dc), (dw_ih, dw_hh, *biases, rows(xhat).sum(axis=0), d_shift.copy(),
                               rows(hhat).sum(axis=0), d_shift, rows(chat).sum(axis=0), rows(tanh_n).sum(axis=0))
