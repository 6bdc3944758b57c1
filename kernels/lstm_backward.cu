/*
 * LSTM backward, one time step (BPTT visits the steps in the reverse of the
 * forward order), one thread per (b, j).
 *
 * The gradient w.r.t. the state h entering the later step arrives in two parts:
 *   dh_rec (B, H)    = dG[t_later] W_hh, the caller's GEMM after the later step
 *   dh_dir (B, H)    the part that bypassed W_hh (a padded row's pass-through;
 *                    dh_n before the first step)
 * This kernel (live rows):
 *   dh_t = dh_dir + dh_rec + dy_t,  dc_t = dc + dh_t o (1 - tanh_c^2)
 *   gd = (dc_t g i(1-i), dc_t c_prev f(1-f), dc_t i (1-g^2), dh_t tanh_c o(1-o))
 *   dc <- dc_t f,  dh_dir <- 0           (all of d h_{t-1} goes through W_hh)
 * then the caller computes dh_rec = gd W_hh for the next step.
 * gd (B, 4H) holds the saved activated gates on entry and the gradients
 * w.r.t. the pre-activations on exit (in place: one forward, one backward).
 * Padded rows: gd = 0, dh_dir <- dh_dir + dh_rec (the whole incoming
 * gradient passes to the earlier step), dc unchanged, dy not read.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lstm_backward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                   const real *__restrict__ dy, const real *__restrict__ dh_rec,
                                                   real *__restrict__ dh_dir, real *__restrict__ dc,
                                                   real *__restrict__ gd, const real *__restrict__ c_prev,
                                                   const real *__restrict__ tanh_c)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 4 * H;
        if (!pyrnn_live(lengths, b, t)) {
            dh_dir[idx] = dh_dir[idx] + dh_rec[idx];
            gd[row + j] = gd[row + H + j] = gd[row + 2 * H + j] = gd[row + 3 * H + j] = real(0);
            continue;
        }
        const real i = gd[row + j], f = gd[row + H + j], g = gd[row + 2 * H + j], o = gd[row + 3 * H + j];
        const real tc = tanh_c[idx];
        const real dh_t = dh_dir[idx] + dh_rec[idx] + dy[idx];
        const real dc_t = dc[idx] + dh_t * o * (real(1) - tc * tc);
        gd[row + j] = dc_t * g * i * (real(1) - i);
        gd[row + H + j] = dc_t * c_prev[idx] * f * (real(1) - f);
        gd[row + 2 * H + j] = dc_t * i * (real(1) - g * g);
        gd[row + 3 * H + j] = dh_t * tc * o * (real(1) - o);
        dc[idx] = dc_t * f;
        dh_dir[idx] = real(0);
    }
}

#define PYRNN_LSTM_BACKWARD(SUFFIX, real)                                                                  \
    extern "C" __global__ void lstm_backward_step_##SUFFIX(                                                \
        int B, int H, int t, const long long *lengths, const real *dy, const real *dh_rec, real *dh_dir,  \
        real *dc, real *gd, const real *c_prev, const real *tanh_c)                                        \
    {                                                                                                      \
        lstm_backward_step<real>(B, H, t, lengths, dy, dh_rec, dh_dir, dc, gd, c_prev, tanh_c);           \
    }

PYRNN_LSTM_BACKWARD(f32, float)
PYRNN_LSTM_BACKWARD(f64, double)
#undef PYRNN_LSTM_BACKWARD
