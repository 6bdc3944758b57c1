/*
 * LSTM with projections (torch.nn's proj_size: h_t = W_hr m_t, m_t = o tanh(c_t)), forward,
 * one time step in two kernels around the caller's projection GEMM:
 *
 *   hw (B, 4H) = h_in W_hh^T                       caller's GEMM (h_in (B, P), W_hh (4H, P))
 *   lstmp_forward_step   one thread per (b, j), j < H: the LSTM cell of lstm_forward.cu,
 *                        giving m (B, H) in place of h; c_out, gates, tanh_c as there.
 *                        Padded rows: c_out = c_in, m = 0 (nothing reaches dW_hr), gates = 0.
 *   h_out (B, P) = m W_hr^T                        caller's GEMM
 *   lstmp_project_step   one thread per (b, q), q < P: y = h_out for live rows; padded rows
 *                        hold the state (h_out = h_in) and give y = 0.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lstmp_forward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                   const real *__restrict__ xw, const real *__restrict__ hw,
                                                   const real *__restrict__ c_in, real *__restrict__ c_out,
                                                   real *m, real *__restrict__ gates, real *__restrict__ tanh_c)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 4 * H;
        /* The cell's h_out and y are both m: the same value (live) or 0 last (padded). */
        pyrnn_lstm_cell(pyrnn_live(lengths, b, t), H, j, idx, row, xw[row + j] + hw[row + j],
                        xw[row + H + j] + hw[row + H + j], xw[row + 2 * H + j] + hw[row + 2 * H + j],
                        xw[row + 3 * H + j] + hw[row + 3 * H + j], m, c_in, m, c_out, m, gates, tanh_c);
    }
}

template <typename real>
__device__ __forceinline__ void lstmp_project_step(int B, int P, int t, const long long *__restrict__ lengths,
                                                   const real *__restrict__ h_in, real *__restrict__ h_out,
                                                   real *__restrict__ y)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * P) {
        const int b = (int)(idx / P);
        if (pyrnn_live(lengths, b, t)) {
            y[idx] = h_out[idx];
        } else {
            h_out[idx] = h_in[idx];
            y[idx] = real(0);
        }
    }
}

#define PYRNN_LSTMP_FORWARD(SUFFIX, real)                                                                   \
    extern "C" __global__ void lstmp_forward_step_##SUFFIX(                                                 \
        int B, int H, int t, const long long *lengths, const real *xw, const real *hw, const real *c_in,   \
        real *c_out, real *m, real *gates, real *tanh_c)                                                    \
    {                                                                                                       \
        lstmp_forward_step<real>(B, H, t, lengths, xw, hw, c_in, c_out, m, gates, tanh_c);                 \
    }                                                                                                       \
    extern "C" __global__ void lstmp_project_step_##SUFFIX(int B, int P, int t, const long long *lengths,  \
                                                           const real *h_in, real *h_out, real *y)          \
    {                                                                                                       \
        lstmp_project_step<real>(B, P, t, lengths, h_in, h_out, y);                                         \
    }

PYRNN_LSTMP_FORWARD(f32, float)
PYRNN_LSTMP_FORWARD(f64, double)
#undef PYRNN_LSTMP_FORWARD
