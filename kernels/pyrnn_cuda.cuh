/*
 * Shared device helpers of the CUDA kernels in kernels/ (backend "cuda").
 *
 * Layout: the rules of csrc/pyrnn.h, stated there once. T time, B batch,
 * H hidden, G gates (1 RNN, 4 LSTM, 3 GRU); row-major, last index fastest;
 * gate g of hidden unit j of batch row b at [b][g*H + j]; PyTorch gate order
 * (LSTM i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).
 *
 * Every pointwise kernel is ONE time step of one layer-direction, one thread
 * per (b, j) element through a grid-stride loop; the caller (the Python of
 * pyrnn/backends/cuda/steps.py) passes per-step views (x_proj[t], y[t], ...)
 * and does the GEMMs (cuBLAS). Steps t >= lengths[b] are padding: the state
 * is held, y = 0, gate gradients are 0 and dh / dc pass through unchanged
 * (pyrnn/backends/base.py). lengths may be NULL (every sequence has length T).
 *
 * The same sources compile for the host through kernels/host_shim.h (g++),
 * so these helpers use only what both NVRTC/nvcc and a C++17 host compiler
 * provide: expf/tanhf/fabsf (float), exp/tanh/fabs (double), no headers.
 */
#ifndef PYRNN_CUDA_CUH
#define PYRNN_CUDA_CUH

/* One thread per element i in [0, n): the thread's first element, then a
 * stride of the whole grid (any grid size covers any n). */
#define PYRNN_GRID_STRIDE_LOOP(i, n)                                                  \
    for (long long i = (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x; \
         i < (long long)(n); i += (long long)blockDim.x * (long long)gridDim.x)

/* Whether step t of batch row b is a real step (not padding). */
__device__ __forceinline__ bool pyrnn_live(const long long *lengths, int b, int t)
{
    return lengths == nullptr || (long long)t < lengths[b];
}

/* Activations in the precision of the argument. sigmoid takes exp of -|a|
 * only (never overflows) and uses the form that is exact at both ends, as the
 * NumPy reference and csrc/pyrnn_gates.h do. Derivatives are taken from the
 * saved outputs: d tanh = 1 - y^2, d sigmoid = y (1 - y). */
__device__ __forceinline__ float pyrnn_tanh(float a) { return tanhf(a); }
__device__ __forceinline__ double pyrnn_tanh(double a) { return tanh(a); }

__device__ __forceinline__ float pyrnn_sigmoid(float a)
{
    const float e = expf(-fabsf(a));
    return (a >= 0.0f ? 1.0f : e) / (1.0f + e);
}

__device__ __forceinline__ double pyrnn_sigmoid(double a)
{
    const double e = exp(-fabs(a));
    return (a >= 0.0 ? 1.0 : e) / (1.0 + e);
}

/* The fused LSTM cell of one (b, j) element, shared by the step kernel (lstm_forward.cu) and the
 * persistent kernel (lstm_persistent_forward.cu), so both compute exactly the same thing.
 * pre_* are the gate pre-activations (x W_ih^T + biases + h W_hh^T) of unit j of row b;
 * row = b * 4H (start of row b in a (B, 4H) array), idx = b * H + j. A padded step (live
 * false) holds the state, writes y = 0 and zero saved activations. */
template <typename real>
__device__ __forceinline__ void pyrnn_lstm_cell(bool live, int H, int j, long long idx, long long row, real pre_i,
                                                real pre_f, real pre_g, real pre_o, const real *h_in,
                                                const real *c_in, real *h_out, real *c_out, real *y,
                                                real *gates, real *tanh_c)
{
    if (!live) {
        h_out[idx] = h_in[idx];
        c_out[idx] = c_in[idx];
        y[idx] = real(0);
        gates[row + j] = gates[row + H + j] = gates[row + 2 * H + j] = gates[row + 3 * H + j] = real(0);
        tanh_c[idx] = real(0);
        return;
    }
    const real i = pyrnn_sigmoid(pre_i), f = pyrnn_sigmoid(pre_f), g = pyrnn_tanh(pre_g), o = pyrnn_sigmoid(pre_o);
    const real c_new = f * c_in[idx] + i * g;
    const real tc = pyrnn_tanh(c_new);
    const real h_new = o * tc;
    gates[row + j] = i;
    gates[row + H + j] = f;
    gates[row + 2 * H + j] = g;
    gates[row + 3 * H + j] = o;
    tanh_c[idx] = tc;
    c_out[idx] = c_new;
    h_out[idx] = h_new;
    y[idx] = h_new;
}

#endif /* PYRNN_CUDA_CUH */
