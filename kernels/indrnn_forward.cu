/*
 * IndRNN forward, one time step, one thread per (b, j):
 *   h_out = y = act(xw + u * h_in),  act = tanh (relu == 0) or relu (relu != 0)
 * with xw (B, H) = x_t W_ih^T + b_ih from the caller's GEMM and u (H) the
 * elementwise recurrent weight: the recurrence is in this kernel, no per-step
 * GEMM. Backward needs only the states, which stay in the caller's state
 * buffers. Padded rows (t >= lengths[b]): h_out = h_in, y = 0.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void indrnn_forward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                    int relu, const real *__restrict__ xw,
                                                    const real *__restrict__ u, const real *__restrict__ h_in,
                                                    real *__restrict__ h_out, real *__restrict__ y)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H);
        if (!pyrnn_live(lengths, b, t)) {
            h_out[idx] = h_in[idx];
            y[idx] = real(0);
            continue;
        }
        const real a = xw[idx] + u[idx % H] * h_in[idx];
        const real h_new = relu ? (a < real(0) ? real(0) : a) : pyrnn_tanh(a);   // relu keeps NaN
        h_out[idx] = h_new;
        y[idx] = h_new;
    }
}

#define PYRNN_INDRNN_FORWARD(SUFFIX, real)                                                                 \
    extern "C" __global__ void indrnn_forward_step_##SUFFIX(int B, int H, int t, const long long *lengths, \
                                                            int relu, const real *xw, const real *u,       \
                                                            const real *h_in, real *h_out, real *y)        \
    {                                                                                                      \
        indrnn_forward_step<real>(B, H, t, lengths, relu, xw, u, h_in, h_out, y);                         \
    }

PYRNN_INDRNN_FORWARD(f32, float)
PYRNN_INDRNN_FORWARD(f64, double)
#undef PYRNN_INDRNN_FORWARD
