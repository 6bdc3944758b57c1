/*
 * Layer-normalised LSTM (LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) * w + b over a row), forward.
 * The caller (pyrnn/backends/cuda/steps.py) runs, for all rows once and then per step t:
 *
 *   xw (T*B, 4H) = x W_ih^T                            GEMM
 *   lnlstm_input_norm     one thread per row: xw <- LN(xw; ln_ih); xhat, x_rstd saved
 *   hw (B, 4H) = h_in W_hh^T                           GEMM, per step
 *   lnlstm_row_stats      one thread per row: mean and 1/std of hw's row (and later of c's)
 *   lnlstm_forward_gates  one thread per (b, j): gates from xw + LN(hw; ln_hh) + bias, c_out;
 *                         saves gates (4H) and hhat (4H); padded rows hold c, zero their saves
 *   lnlstm_row_stats      of c_out
 *   lnlstm_forward_out    one thread per (b, j): h_out = y = o tanh(LN(c_out; ln_c)); saves chat,
 *                         tanh_n; padded rows hold h, y = 0
 *
 * Row statistics are summed in double, one thread per row: simple and the same on the host shim
 * (its simulated threads run one after another, so no kernel here may wait for another thread).
 */
#include "pyrnn_cuda.cuh"

#define PYRNN_LN_EPS 1e-5

/* mean and 1/sqrt(var + eps) of v[0..n), in double. */
template <typename real>
__device__ __forceinline__ void pyrnn_ln_stats(const real *v, int n, double *mean, double *rstd)
{
    double s = 0.0, q = 0.0;
    for (int k = 0; k < n; k++) s += (double)v[k];
    const double mu = s / n;
    for (int k = 0; k < n; k++) q += ((double)v[k] - mu) * ((double)v[k] - mu);
    *mean = mu;
    *rstd = 1.0 / sqrt(q / n + PYRNN_LN_EPS);
}

template <typename real>
__device__ __forceinline__ void lnlstm_input_norm(int rows, int n, real *__restrict__ xw, const real *__restrict__ w,
                                                  const real *__restrict__ b, real *__restrict__ xhat,
                                                  real *__restrict__ x_rstd)
{
    PYRNN_GRID_STRIDE_LOOP(r, rows) {
        real *v = xw + r * n;
        double mean, rstd;
        pyrnn_ln_stats(v, n, &mean, &rstd);
        for (int k = 0; k < n; k++) {
            const real vh = (real)(((double)v[k] - mean) * rstd);
            xhat[r * n + k] = vh;
            v[k] = vh * w[k] + b[k];
        }
        x_rstd[r] = (real)rstd;
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_row_stats(int B, int n, const real *__restrict__ v, real *__restrict__ mean,
                                                 real *__restrict__ rstd)
{
    PYRNN_GRID_STRIDE_LOOP(b, B) {
        double m, r;
        pyrnn_ln_stats(v + b * n, n, &m, &r);
        mean[b] = (real)m;
        rstd[b] = (real)r;
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_forward_gates(int B, int H, int t, const long long *__restrict__ lengths,
                                                     const real *__restrict__ xw, const real *__restrict__ hw,
                                                     const real *__restrict__ bias, const real *__restrict__ ln_w,
                                                     const real *__restrict__ ln_b, const real *__restrict__ h_mean,
                                                     const real *__restrict__ h_rstd, const real *__restrict__ c_in,
                                                     real *__restrict__ c_out, real *__restrict__ gates,
                                                     real *__restrict__ hhat)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        const long long row = (long long)b * 4 * H;
        if (!pyrnn_live(lengths, b, t)) {
            c_out[idx] = c_in[idx];
            for (int g = 0; g < 4; g++) gates[row + g * H + j] = hhat[row + g * H + j] = real(0);
            continue;
        }
        real pre[4];
        for (int g = 0; g < 4; g++) {
            const long long u = row + g * H + j;
            const real hh = (hw[u] - h_mean[b]) * h_rstd[b];
            hhat[u] = hh;
            pre[g] = xw[u] + hh * ln_w[g * H + j] + ln_b[g * H + j] + bias[g * H + j];
        }
        const real i = pyrnn_sigmoid(pre[0]), f = pyrnn_sigmoid(pre[1]), g = pyrnn_tanh(pre[2]);
        const real o = pyrnn_sigmoid(pre[3]);
        gates[row + j] = i;
        gates[row + H + j] = f;
        gates[row + 2 * H + j] = g;
        gates[row + 3 * H + j] = o;
        c_out[idx] = f * c_in[idx] + i * g;
    }
}

template <typename real>
__device__ __forceinline__ void lnlstm_forward_out(int B, int H, int t, const long long *__restrict__ lengths,
                                                   const real *__restrict__ gates, const real *__restrict__ c_out,
                                                   const real *__restrict__ c_mean, const real *__restrict__ c_rstd,
                                                   const real *__restrict__ ln_w, const real *__restrict__ ln_b,
                                                   const real *__restrict__ h_in, real *__restrict__ h_out,
                                                   real *__restrict__ y, real *__restrict__ chat,
                                                   real *__restrict__ tanh_n)
{
    PYRNN_GRID_STRIDE_LOOP(idx, (long long)B * H) {
        const int b = (int)(idx / H), j = (int)(idx % H);
        if (!pyrnn_live(lengths, b, t)) {
            h_out[idx] = h_in[idx];
            y[idx] = chat[idx] = tanh_n[idx] = real(0);
            continue;
        }
        const real ch = (c_out[idx] - c_mean[b]) * c_rstd[b];
        const real tn = pyrnn_tanh(ch * ln_w[j] + ln_b[j]);
        chat[idx] = ch;
        tanh_n[idx] = tn;
        h_out[idx] = y[idx] = gates[(long long)b * 4 * H + 3 * H + j] * tn;
    }
}

#define PYRNN_LNLSTM_FORWARD(SUFFIX, real)                                                                     \
    extern "C" __global__ void lnlstm_input_norm_##SUFFIX(int rows, int n, real *xw, const real *w,            \
                                                          const real *b, real *xhat, real *x_rstd)             \
    {                                                                                                          \
        lnlstm_input_norm<real>(rows, n, xw, w, b, xhat, x_rstd);                                              \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_row_stats_##SUFFIX(int B, int n, const real *v, real *mean, real *rstd)  \
    {                                                                                                          \
        lnlstm_row_stats<real>(B, n, v, mean, rstd);                                                           \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_forward_gates_##SUFFIX(                                                  \
        int B, int H, int t, const long long *lengths, const real *xw, const real *hw, const real *bias,      \
        const real *ln_w, const real *ln_b, const real *h_mean, const real *h_rstd, const real *c_in,          \
        real *c_out, real *gates, real *hhat)                                                                  \
    {                                                                                                          \
        lnlstm_forward_gates<real>(B, H, t, lengths, xw, hw, bias, ln_w, ln_b, h_mean, h_rstd, c_in, c_out,   \
                                   gates, hhat);                                                               \
    }                                                                                                          \
    extern "C" __global__ void lnlstm_forward_out_##SUFFIX(                                                    \
        int B, int H, int t, const long long *lengths, const real *gates, const real *c_out,                  \
        const real *c_mean, const real *c_rstd, const real *ln_w, const real *ln_b, const real *h_in,         \
        real *h_out, real *y, real *chat, real *tanh_n)                                                        \
    {                                                                                                          \
        lnlstm_forward_out<real>(B, H, t, lengths, gates, c_out, c_mean, c_rstd, ln_w, ln_b, h_in, h_out, y,  \
                                 chat, tanh_n);                                                                \
    }

PYRNN_LNLSTM_FORWARD(f32, float)
PYRNN_LNLSTM_FORWARD(f64, double)
#undef PYRNN_LNLSTM_FORWARD
