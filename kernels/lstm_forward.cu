/*
 * LSTM forward, one time step (gate order i, f, g, o), one thread per (b, j).
 *
 * The caller has computed, for this step t:
 *   xw (B, 4H) = x_t W_ih^T + b_ih + b_hh    (one GEMM over all T*B rows, before the loop)
 *   hw (B, 4H) = h_in W_hh^T                 (one GEMM per step)
 * and this kernel does everything else of the step:
 *   i, f, o = sigmoid(.), g = tanh(.),  c_out = f c_in + i g,  h_out = y = o tanh(c_out)
 * saving what backward needs: gates (B, 4H) the activated i, f, g, o and
 * tanh_c (B, H); the states entering the step (h_in, c_in) stay in the
 * caller's state buffers, which it keeps for backward.
 * Padded rows (t >= lengths[b]): h_out = h_in, c_out = c_in, y = 0, gates = 0.
 * h_in/c_in and h_out/c_out are different buffers (the caller ping-pongs).
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lstm_forward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                  const real *__restrict__ xw, const real *__restrict__ hw,
                                                  const real *__restrict__ h_in, const real *__restrict__ c_in,
                                                  real *__restrict__ h_out, real *__restrict__ c_out,
                                                  real *__restrict__ y, real *__restrict__ gates,
                                                  real *__restrict__ tanh_c)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 4 * H;   /* start of row b in a (B, 4H) array */
        pyrnn_lstm_cell(pyrnn_live(lengths, b, t), H, j, idx, row, xw[row + j] + hw[row + j],
                        xw[row + H + j] + hw[row + H + j], xw[row + 2 * H + j] + hw[row + 2 * H + j],
                        xw[row + 3 * H + j] + hw[row + 3 * H + j], h_in, c_in, h_out, c_out, y, gates, tanh_c);
    }
}

#define PYRNN_LSTM_FORWARD(SUFFIX, real)                                                                    \
    extern "C" __global__ void lstm_forward_step_##SUFFIX(                                                  \
        int B, int H, int t, const long long *lengths, const real *xw, const real *hw, const real *h_in,   \
        const real *c_in, real *h_out, real *c_out, real *y, real *gates, real *tanh_c)                     \
    {                                                                                                       \
        lstm_forward_step<real>(B, H, t, lengths, xw, hw, h_in, c_in, h_out, c_out, y, gates, tanh_c);     \
    }

PYRNN_LSTM_FORWARD(f32, float)
PYRNN_LSTM_FORWARD(f64, double)
#undef PYRNN_LSTM_FORWARD
