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
 * pyrnn/backends/cuda_steps.py) passes per-step views (x_proj[t], y[t], ...)
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

#endif /* PYRNN_CUDA_CUH */
