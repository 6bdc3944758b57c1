/*
 * LSTM forward, the WHOLE time loop of one layer-direction in ONE cooperative
 * kernel, for small batches (Persistent RNNs, Diamos et al. 2016; cuDNN's
 * CUDNN_RNN_ALGO_PERSIST_STATIC): block k owns the hidden units
 * [k*U, k*U + U), U = ceil(H / gridDim.x); its 4*U rows of W_hh are loaded
 * into shared memory ONCE and stay there for all T steps. Per step each block
 *   1. stages h_{t-1} (B x H, all units) from global memory into shared memory,
 *   2. computes its units' recurrent products a = h W_hh^T from shared memory,
 *   3. applies the fused LSTM cell (same math as lstm_forward.cu) to its units,
 *      writing h_t, c_t, y[t] and the saved activations to global memory,
 *   4. meets every other block at a grid-wide barrier (cooperative groups),
 * so the only per-step traffic is h (B x H) through L2 and there is no launch
 * per step. The input projection xw = x W_ih^T + b_ih + b_hh (T, B, 4H) is
 * one GEMM done before, as in the step path; the outputs have exactly the
 * step path's layout (state buffers in time order, see
 * pyrnn/backends/cuda/steps.py), so backward is shared.
 *
 * Launch: cooperative (all blocks resident), blockDim.x any multiple of 32,
 * dynamic shared memory lstm_persistent_smem(B, H, gridDim.x) bytes.
 * Shared rows are padded to H + 1 elements to avoid bank conflicts.
 *
 * STATUS: compiled by nvcc in the tests; NOT numerically verified (it cannot
 * run without a GPU and uses grid-wide synchronisation, which the host shim
 * does not simulate). Opt-in: PYRNN_CUDA_PERSISTENT=1 (pyrnn/backends/cuda/backend.py).
 */
#include <cooperative_groups.h>

#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lstm_persistent_forward(int T, int B, int H, int reverse, int training,
                                                        const long long *__restrict__ lengths,
                                                        const real *__restrict__ xw,
                                                        const real *__restrict__ w_hh, real *hbuf, real *cbuf,
                                                        real *__restrict__ y, real *__restrict__ gates,
                                                        real *__restrict__ tanh_c)
{
    cooperative_groups::grid_group grid = cooperative_groups::this_grid();
    extern __shared__ unsigned char pyrnn_smem[];
    const int ld = H + 1;                                  /* padded row length in shared memory */
    const int U = (H + (int)gridDim.x - 1) / (int)gridDim.x;
    const int j0 = (int)blockIdx.x * U;
    const int nu = j0 >= H ? 0 : (H - j0 < U ? H - j0 : U);   /* units of this block */
    real *w_s = reinterpret_cast<real *>(pyrnn_smem);     /* (4U, ld): row g*U + jj = W_hh[g*H + j0 + jj] */
    real *h_s = w_s + (long long)4 * U * ld;               /* (B, ld): h_{t-1} */
    real *a_s = h_s + (long long)B * ld;                   /* (B, 4U): recurrent products */
    const int tid = (int)threadIdx.x, nthreads = (int)blockDim.x;
    const long long BH = (long long)B * H;

    for (int e = tid; e < 4 * nu * H; e += nthreads) {
        const int r = e / H, k = e % H, g = r / nu, jj = r % nu;
        w_s[(g * U + jj) * ld + k] = w_hh[(long long)(g * H + j0 + jj) * H + k];
    }
    __syncthreads();

    for (int step = 0; step < T; step++) {
        const int t = reverse ? T - 1 - step : step;
        int s_in, s_out, s;
        if (training) {
            s_in = reverse ? t + 1 : t;
            s_out = reverse ? t : t + 1;
            s = t;
        } else {
            s_in = step & 1;
            s_out = s_in ^ 1;
            s = 0;
        }
        const real *h_in = hbuf + s_in * BH, *c_in = cbuf + s_in * BH;
        real *h_out = hbuf + s_out * BH, *c_out = cbuf + s_out * BH;
        for (int e = tid; e < B * H; e += nthreads) h_s[(e / H) * ld + e % H] = h_in[e];
        __syncthreads();
        for (int e = tid; e < B * 4 * nu; e += nthreads) {
            const int b = e / (4 * nu), r = e % (4 * nu), g = r / nu, jj = r % nu;
            const real *wr = w_s + (g * U + jj) * ld, *hr = h_s + b * ld;
            real acc = real(0);
            for (int k = 0; k < H; k++) acc += wr[k] * hr[k];
            a_s[b * 4 * U + g * U + jj] = acc;
        }
        __syncthreads();
        const real *xw_t = xw + (long long)t * B * 4 * H;
        real *y_t = y + (long long)t * BH, *gates_s = gates + (long long)s * B * 4 * H;
        real *tanh_c_s = tanh_c + (long long)s * BH;
        for (int e = tid; e < B * nu; e += nthreads) {
            const int b = e / nu, jj = e % nu, j = j0 + jj;
            const long long idx = (long long)b * H + j, row = (long long)b * 4 * H;
            const real *a = a_s + b * 4 * U;
            pyrnn_lstm_cell(pyrnn_live(lengths, b, t), H, j, idx, row, xw_t[row + j] + a[jj],
                            xw_t[row + H + j] + a[U + jj], xw_t[row + 2 * H + j] + a[2 * U + jj],
                            xw_t[row + 3 * H + j] + a[3 * U + jj], h_in, c_in, h_out, c_out, y_t, gates_s,
                            tanh_c_s);
        }
        grid.sync();     /* h_t of every block written before any block stages it */
    }
}

#define PYRNN_LSTM_PERSISTENT(SUFFIX, real)                                                                 \
    extern "C" __global__ void lstm_persistent_forward_##SUFFIX(                                            \
        int T, int B, int H, int reverse, int training, const long long *lengths, const real *xw,          \
        const real *w_hh, real *hbuf, real *cbuf, real *y, real *gates, real *tanh_c)                       \
    {                                                                                                       \
        lstm_persistent_forward<real>(T, B, H, reverse, training, lengths, xw, w_hh, hbuf, cbuf, y, gates, \
                                      tanh_c);                                                              \
    }

PYRNN_LSTM_PERSISTENT(f32, float)
PYRNN_LSTM_PERSISTENT(f64, double)
#undef PYRNN_LSTM_PERSISTENT
