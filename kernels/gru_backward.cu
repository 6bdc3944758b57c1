/*
 * GRU backward, one time step, one thread per (b, j).
 *
 * Incoming gradient w.r.t. the state after this step: dh_dir + dh_rec (see
 * lstm_backward.cu). Live rows:
 *   dh_t = dh_dir + dh_rec + dy_t
 *   da_n = dh_t (1 - z)(1 - n^2)   da_r = da_n hn r (1 - r)   da_z = dh_t (h_prev - n) z (1 - z)
 *   gd    <- (da_r, da_z, da_n)       d loss / d (x W_ih^T + b_ih)   (in place over r, z, n)
 *   d_hid <- (da_r, da_z, da_n r)     d loss / d (h W_hh^T + b_hh)
 *   dh_dir <- dh_t z                  (the part of d h_{t-1} that bypasses W_hh)
 * then the caller computes dh_rec = d_hid W_hh for the next step.
 * Padded rows: gd = d_hid = 0, dh_dir <- dh_dir + dh_rec, dy not read.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void gru_backward_step(int B, int H, int t, const long long *__restrict__ lengths,
                                                  const real *__restrict__ dy, const real *__restrict__ dh_rec,
                                                  real *__restrict__ dh_dir, real *__restrict__ gd,
                                                  real *__restrict__ d_hid, const real *__restrict__ h_prev,
                                                  const real *__restrict__ hn)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 3 * H;
        if (!pyrnn_live(lengths, b, t)) {
            dh_dir[idx] = dh_dir[idx] + dh_rec[idx];
            gd[row + j] = gd[row + H + j] = gd[row + 2 * H + j] = real(0);
            d_hid[row + j] = d_hid[row + H + j] = d_hid[row + 2 * H + j] = real(0);
            continue;
        }
        const real r = gd[row + j], z = gd[row + H + j], n = gd[row + 2 * H + j];
        const real dh_t = dh_dir[idx] + dh_rec[idx] + dy[idx];
        const real da_n = dh_t * (real(1) - z) * (real(1) - n * n);
        const real da_r = da_n * hn[idx] * r * (real(1) - r);
        const real da_z = dh_t * (h_prev[idx] - n) * z * (real(1) - z);
        gd[row + j] = da_r;
        gd[row + H + j] = da_z;
        gd[row + 2 * H + j] = da_n;
        d_hid[row + j] = da_r;
        d_hid[row + H + j] = da_z;
        d_hid[row + 2 * H + j] = da_n * r;
        dh_dir[idx] = dh_t * z;
    }
}

#define PYRNN_GRU_BACKWARD(SUFFIX, real)                                                                   \
    extern "C" __global__ void gru_backward_step_##SUFFIX(                                                 \
        int B, int H, int t, const long long *lengths, const real *dy, const real *dh_rec, real *dh_dir,  \
        real *gd, real *d_hid, const real *h_prev, const real *hn)                                         \
    {                                                                                                      \
        gru_backward_step<real>(B, H, t, lengths, dy, dh_rec, dh_dir, gd, d_hid, h_prev, hn);             \
    }

PYRNN_GRU_BACKWARD(f32, float)
PYRNN_GRU_BACKWARD(f64, double)
#undef PYRNN_GRU_BACKWARD
