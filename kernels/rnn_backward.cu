/*
 * Elman RNN backward, one time step, one thread per (b, j).
 * h_new (B, H): the state this step produced (the caller's state buffer).
 * Live rows: da = (dh_dir + dh_rec + dy) * act'(h_new), with act' = 1 - h_new^2
 * (tanh) or [not h_new <= 0] (relu: a NaN passes, as in torch); dh_dir <- 0. The caller then computes
 * dh_rec = da W_hh. Padded rows: da = 0, dh_dir <- dh_dir + dh_rec, dy not read.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void rnn_backward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                  int relu, const real *__restrict__ dy,
                                                  const real *__restrict__ dh_rec, real *__restrict__ dh_dir,
                                                  const real *__restrict__ h_new, real *__restrict__ da)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H);
        if (!pyrnn_live(lengths, b, t)) {
            dh_dir[idx] = dh_dir[idx] + dh_rec[idx];
            da[idx] = real(0);
            continue;
        }
        const real hv = h_new[idx];
        const real dh_t = dh_dir[idx] + dh_rec[idx] + dy[idx];
        da[idx] = relu ? (hv <= real(0) ? real(0) : dh_t) : dh_t * (real(1) - hv * hv);
        dh_dir[idx] = real(0);
    }
}

#define PYRNN_RNN_BACKWARD(SUFFIX, real)                                                                   \
    extern "C" __global__ void rnn_backward_step_##SUFFIX(int B, int H, int t, const long long *lengths,   \
                                                          int relu, const real *dy, const real *dh_rec,    \
                                                          real *dh_dir, const real *h_new, real *da)       \
    {                                                                                                      \
        rnn_backward_step<real>(B, H, t, lengths, relu, dy, dh_rec, dh_dir, h_new, da);                   \
    }

PYRNN_RNN_BACKWARD(f32, float)
PYRNN_RNN_BACKWARD(f64, double)
#undef PYRNN_RNN_BACKWARD
