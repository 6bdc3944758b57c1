/*
 * LSTM with projections, backward, one time step (BPTT visits the steps in the reverse of the
 * forward order). The gate gradients are the LSTM's (lstm_backward_step of lstm_backward.cu,
 * given dm in place of dy and zeros as its dh parts); this kernel is the part in h's P units,
 * one thread per (b, q), before the caller's GEMMs:
 *
 *   live rows:   dh_out = dh_dir + dh_rec + dy_t  (d loss / d h_t),  dh_dir <- 0
 *   padded rows: dh_out = 0,  dh_dir <- dh_dir + dh_rec  (the gradient passes to the earlier step)
 *   then the caller: dm (B, H) = dh_out W_hr (the row's "dy"), the gate kernel,
 *   dh_rec (B, P) = gd W_hh for the next step, and after the loop dW_hr = sum_t dh_out_t^T m_t.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lstmp_project_backward_step(int B, int P, int t,
                                                            const long long *__restrict__ lengths,
                                                            const real *__restrict__ dy,
                                                            const real *__restrict__ dh_rec,
                                                            real *__restrict__ dh_dir, real *__restrict__ dh_out)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * P) {
        const int b = (int)(idx / P);
        if (pyrnn_live(lengths, b, t)) {
            dh_out[idx] = dh_dir[idx] + dh_rec[idx] + dy[idx];
            dh_dir[idx] = real(0);
        } else {
            dh_out[idx] = real(0);
            dh_dir[idx] = dh_dir[idx] + dh_rec[idx];
        }
    }
}

#define PYRNN_LSTMP_BACKWARD(SUFFIX, real)                                                                 \
    extern "C" __global__ void lstmp_project_backward_step_##SUFFIX(                                       \
        int B, int P, int t, const long long *lengths, const real *dy, const real *dh_rec, real *dh_dir,  \
        real *dh_out)                                                                                      \
    {                                                                                                      \
        lstmp_project_backward_step<real>(B, P, t, lengths, dy, dh_rec, dh_dir, dh_out);                  \
    }

PYRNN_LSTMP_BACKWARD(f32, float)
PYRNN_LSTMP_BACKWARD(f64, double)
#undef PYRNN_LSTMP_BACKWARD
