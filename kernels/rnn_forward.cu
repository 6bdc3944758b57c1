/*
 * Elman RNN forward, one time step, one thread per (b, j):
 *   h_out = y = act(xw + hw),  act = tanh (relu == 0) or relu (relu != 0)
 * with xw (B, H) = x_t W_ih^T + b_ih + b_hh and hw (B, H) = h_in W_hh^T
 * from the caller's GEMMs. Backward needs only the states, which stay in the
 * caller's state buffers (h_out of a live row is act(.)).
 * Padded rows (t >= lengths[b]): h_out = h_in, y = 0.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void rnn_forward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                 int relu, const real *__restrict__ xw,
                                                 const real *__restrict__ hw, const real *__restrict__ h_in,
                                                 real *__restrict__ h_out, real *__restrict__ y)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H);
        if (!pyrnn_live(lengths, b, t)) {
            h_out[idx] = h_in[idx];
            y[idx] = real(0);
            continue;
        }
        const real a = xw[idx] + hw[idx];
        const real h_new = relu ? (a < real(0) ? real(0) : a) : pyrnn_tanh(a);   // relu keeps NaN
        h_out[idx] = h_new;
        y[idx] = h_new;
    }
}

#define PYRNN_RNN_FORWARD(SUFFIX, real)                                                                    \
    extern "C" __global__ void rnn_forward_step_##SUFFIX(int B, int H, int t, const long long *lengths,    \
                                                         int relu, const real *xw, const real *hw,         \
                                                         const real *h_in, real *h_out, real *y)           \
    {                                                                                                      \
        rnn_forward_step<real>(B, H, t, lengths, relu, xw, hw, h_in, h_out, y);                           \
    }

PYRNN_RNN_FORWARD(f32, float)
PYRNN_RNN_FORWARD(f64, double)
#undef PYRNN_RNN_FORWARD
