/*
 * IndRNN backward, one time step, one thread per (b, j).
 * h_new (B, H): the state this step produced (the caller's state buffer).
 * Live rows: da = (dh + dy) * act'(h_new), with act' = 1 - h_new^2 (tanh) or
 * [not h_new <= 0] (relu: a NaN passes, as in torch), then dh <- u * da: the
 * whole recurrent part, elementwise (no per-step GEMM). Padded rows: da = 0,
 * dh held, dy not read.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void indrnn_backward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                     int relu, const real *__restrict__ dy,
                                                     const real *__restrict__ u, real *__restrict__ dh,
                                                     const real *__restrict__ h_new, real *__restrict__ da)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H);
        if (!pyrnn_live(lengths, b, t)) {
            da[idx] = real(0);
            continue;
        }
        const real hv = h_new[idx];
        const real dh_t = dh[idx] + dy[idx];
        const real d = relu ? (hv <= real(0) ? real(0) : dh_t) : dh_t * (real(1) - hv * hv);
        da[idx] = d;
        dh[idx] = u[idx % H] * d;
    }
}

#define PYRNN_INDRNN_BACKWARD(SUFFIX, real)                                                                \
    extern "C" __global__ void indrnn_backward_step_##SUFFIX(int B, int H, int t, const long long *lengths,\
                                                             int relu, const real *dy, const real *u,      \
                                                             real *dh, const real *h_new, real *da)        \
    {                                                                                                      \
        indrnn_backward_step<real>(B, H, t, lengths, relu, dy, u, dh, h_new, da);                         \
    }

PYRNN_INDRNN_BACKWARD(f32, float)
PYRNN_INDRNN_BACKWARD(f64, double)
#undef PYRNN_INDRNN_BACKWARD
