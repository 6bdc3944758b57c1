/*
 * GRU forward, one time step (gate order r, z, n; PyTorch/cuDNN form), one thread per (b, j).
 *
 *   xw (B, 3H) = x_t W_ih^T + b_ih        (the caller's GEMM over all T*B rows)
 *   hw (B, 3H) = h_in W_hh^T              (the caller's GEMM per step; b_hh added here,
 *                                          because r multiplies W_hn h + b_hn)
 *   r = sigmoid(xw_r + hw_r + b_hr)   z = sigmoid(xw_z + hw_z + b_hz)
 *   n = tanh(xw_n + r (hw_n + b_hn))  h_out = y = n + z (h_in - n)
 * Saved for backward: gates (B, 3H) = r, z, n and hn (B, H) = W_hn h + b_hn;
 * h_in stays in the caller's state buffer. b_hh: zeros for a layer without biases.
 * Padded rows (t >= lengths[b]): h_out = h_in, y = 0, gates = hn = 0.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void gru_forward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                 const real *__restrict__ xw, const real *__restrict__ hw,
                                                 const real *__restrict__ b_hh, const real *__restrict__ h_in,
                                                 real *__restrict__ h_out, real *__restrict__ y,
                                                 real *__restrict__ gates, real *__restrict__ hn)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 3 * H;
        if (!pyrnn_live(lengths, b, t)) {
            h_out[idx] = h_in[idx];
            y[idx] = real(0);
            gates[row + j] = gates[row + H + j] = gates[row + 2 * H + j] = real(0);
            hn[idx] = real(0);
            continue;
        }
        const real r = pyrnn_sigmoid(xw[row + j] + hw[row + j] + b_hh[j]);
        const real z = pyrnn_sigmoid(xw[row + H + j] + hw[row + H + j] + b_hh[H + j]);
        const real hw_n = hw[row + 2 * H + j] + b_hh[2 * H + j];
        const real n = pyrnn_tanh(xw[row + 2 * H + j] + r * hw_n);
        const real h_new = n + z * (h_in[idx] - n);
        gates[row + j] = r;
        gates[row + H + j] = z;
        gates[row + 2 * H + j] = n;
        hn[idx] = hw_n;
        h_out[idx] = h_new;
        y[idx] = h_new;
    }
}

#define PYRNN_GRU_FORWARD(SUFFIX, real)                                                                     \
    extern "C" __global__ void gru_forward_step_##SUFFIX(                                                   \
        int B, int H, int t, const long long *lengths, const real *xw, const real *hw, const real *b_hh,   \
        const real *h_in, real *h_out, real *y, real *gates, real *hn)                                      \
    {                                                                                                       \
        gru_forward_step<real>(B, H, t, lengths, xw, hw, b_hh, h_in, h_out, y, gates, hn);                 \
    }

PYRNN_GRU_FORWARD(f32, float)
PYRNN_GRU_FORWARD(f64, double)
#undef PYRNN_GRU_FORWARD
