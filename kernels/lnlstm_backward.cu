/*
 * Layer-normalised LSTM, backward, one time step t (BPTT visits the steps in the reverse of the
 * forward order); dh arrives as dh_dir + dh_rec as for the LSTM (lstm_backward.cu). Per step:
 *
 *   lnlstm_backward_out    one thread per (b, j): dh_t = dh_dir + dh_rec + dy; d a_o into gd's o
 *                          slot; d LN(c_t) over tanh_n's saved row (dlnc); dh_dir <- 0.
 *                          Padded rows: gd = 0, dlnc = 0, dh_dir <- dh_dir + dh_rec.
 *   lnlstm_backward_means  one thread per row: m1 = mean(d * w), m2 = mean(d * w * vhat) (double)
 *   lnlstm_backward_gates  one thread per (b, j): dc_t = dc + LN_c backwards, the i, f, g gradients,
 *                          dc <- dc_t f, chat <- dlnc * chat (for d ln_c_weight). Padded: nothing.
 *   lnlstm_backward_means  of gd with ln_hh_w and hhat
 *   lnlstm_backward_hidden one thread per (b, k), k < 4H: d_hid = LN_hh backwards of gd,
 *                          hhat <- gd * hhat (for d ln_hh_weight); padded rows: d_hid = 0.
 *   then the caller: dh_rec = d_hid W_hh; after the loop lnlstm_input_norm_backward (one thread
 *   per row: da_x through LN_ih, xhat <- gd * xhat) and the GEMMs and column sums.
 */
#include "pyrnn_cuda.cuh"

template <typename real>
__device__ __forceinline__ void lnlstm_backward_out(int B, int H, int t, const long long *__restrict__ lengths,
                                                    const real *__restrict__ dy, const real *__restrict__ dh_rec,
                                                    real *__restrict__ dh_dir, real *__restrict__ gd,
                                                    real *__restrict__ tanh_n_dlnc)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 4 * H;
        if (!pyrnn_live(lengths, b, t)) {
            dh_dir[idx] = dh_dir[idx] + dh_rec[idx];
            for (int g = 0; g < 4; g++) gd[row + g * H + j] = real(0);
            tanh_n_dlnc[idx] = real(0);
            continue;
        }
        const real o = gd[row + 3 * H + j], tn = tanh_n_dlnc[idx];
        const real dh_t = dh_dir[idx] + dh_rec[idx] + dy[idx];
        gd[row + 3 * H + j] = dh_t * tn * o * (real(1) - o);
        tanh_n_dlnc[idx] = dh_t * o * (real(1) - tn * tn);
        dh_dir[idx] = real(0);
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_backward_means(int B, int n, const real *__restrict__ d,
                                                      const real *__restrict__ w, const real *__restrict__ vhat,
                                                      real *__restrict__ m1, real *__restrict__ m2)
{
    PYRNN_GRID_STRIDE_LOOP(b, B) {
        double s = 0.0, q = 0.0;
        for (int k = 0; k < n; k++) {
            const double g = (double)d[b * n + k] * w[k];
            s += g;
            q += g * vhat[b * n + k];
        }
        m1[b] = (real)(s / n);
        m2[b] = (real)(q / n);
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_backward_gates(int B, int H, int t, const long long *__restrict__ lengths,
                                                      real *__restrict__ gd, const real *__restrict__ dlnc,
                                                      real *__restrict__ chat, const real *__restrict__ c_rstd,
                                                      const real *__restrict__ m1, const real *__restrict__ m2,
                                                      const real *__restrict__ ln_c_w,
                                                      const real *__restrict__ c_prev, real *__restrict__ dc)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        if (!pyrnn_live(lengths, b, t)) continue;
        const long long row = (long long)b * 4 * H;
        const real i = gd[row + j], f = gd[row + H + j], g = gd[row + 2 * H + j];
        const real dc_t = dc[idx] + c_rstd[b] * (dlnc[idx] * ln_c_w[j] - m1[b] - chat[idx] * m2[b]);
        gd[row + j] = dc_t * g * i * (real(1) - i);
        gd[row + H + j] = dc_t * c_prev[idx] * f * (real(1) - f);
        gd[row + 2 * H + j] = dc_t * i * (real(1) - g * g);
        dc[idx] = dc_t * f;
        chat[idx] = dlnc[idx] * chat[idx];
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_backward_hidden(int B, int H, int t, const long long *__restrict__ lengths,
                                                       const real *__restrict__ gd, real *__restrict__ hhat,
                                                       const real *__restrict__ h_rstd, const real *__restrict__ m1,
                                                       const real *__restrict__ m2, const real *__restrict__ ln_hh_w,
                                                       real *__restrict__ d_hid)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * 4 * H) {
        const int b = (int)(idx / (4 * H)), k = (int)(idx % (4 * H));
        if (!pyrnn_live(lengths, b, t)) {
            d_hid[idx] = real(0);
            continue;
        }
        d_hid[idx] = h_rstd[b] * (gd[idx] * ln_hh_w[k] - m1[b] - hhat[idx] * m2[b]);
        hhat[idx] = gd[idx] * hhat[idx];
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_input_norm_backward(int rows, int n, const real *__restrict__ gd,
                                                           real *__restrict__ xhat, const real *__restrict__ x_rstd,
                                                           const real *__restrict__ ln_w, real *__restrict__ da_x)
{
    PYRNN_GRID_STRIDE_LOOP(r, rows) {
        double s = 0.0, q = 0.0;
        for (int k = 0; k < n; k++) {
            const double g = (double)gd[r * n + k] * ln_w[k];
            s += g;
            q += g * xhat[r * n + k];
        }
        const real m1 = (real)(s / n), m2 = (real)(q / n);
        for (int k = 0; k < n; k++) {
            const long long u = r * n + k;
            da_x[u] = x_rstd[r] * (gd[u] * ln_w[k] - m1 - xhat[u] * m2);
            xhat[u] = gd[u] * xhat[u];
        }
    }
}

#define PYRNN_LNLSTM_BACKWARD(SUFFIX, real)                                                                    \
    extern "C" __global__ void lnlstm_backward_out_##SUFFIX(int B, int H, int t, const long long *lengths,     \
                                                            const real *dy, const real *dh_rec, real *dh_dir,  \
                                                            real *gd, real *tanh_n_dlnc)                       \
    {                                                                                                          \
        lnlstm_backward_out<real>(B, H, t, lengths, dy, dh_rec, dh_dir, gd, tanh_n_dlnc);                      \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_backward_means_##SUFFIX(int B, int n, const real *d, const real *w,      \
                                                              const real *vhat, real *m1, real *m2)            \
    {                                                                                                          \
        lnlstm_backward_means<real>(B, n, d, w, vhat, m1, m2);                                                 \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_backward_gates_##SUFFIX(                                                 \
        int B, int H, int t, const long long *lengths, real *gd, const real *dlnc, real *chat,                \
        const real *c_rstd, const real *m1, const real *m2, const real *ln_c_w, const real *c_prev, real *dc)  \
    {                                                                                                          \
        lnlstm_backward_gates<real>(B, H, t, lengths, gd, dlnc, chat, c_rstd, m1, m2, ln_c_w, c_prev, dc);    \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_backward_hidden_##SUFFIX(                                                \
        int B, int H, int t, const long long *lengths, const real *gd, real *hhat, const real *h_rstd,        \
        const real *m1, const real *m2, const real *ln_hh_w, real *d_hid)                                      \
    {                                                                                                          \
        lnlstm_backward_hidden<real>(B, H, t, lengths, gd, hhat, h_rstd, m1, m2, ln_hh_w, d_hid);              \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_input_norm_backward_##SUFFIX(int rows, int n, const real *gd, real *xhat, \
                                                                   const real *x_rstd, const real *ln_w,       \
                                                                   real *da_x)                                 \
    {                                                                                                          \
        lnlstm_input_norm_backward<real>(rows, n, gd, xhat, x_rstd, ln_w, da_x);                               \
    }

PYRNN_LNLSTM_BACKWARD(f32, float)
PYRNN_LNLSTM_BACKWARD(f64, double)
#undef PYRNN_LNLSTM_BACKWARD
