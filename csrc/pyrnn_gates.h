/*
 * The fused pointwise code of every cell, forward and backward, written once.
 *
 * Generic over the element type: pyrnn.c includes this file twice, with
 *   REAL  float | double     FN(name)  name##_f32 | name##_f64
 *   R(x)  a literal of type REAL
 * Each row function works on one batch row and the hidden units [j0, j1) that
 * the calling thread owns (every thread owns one slice for the whole call).
 * Rows of gate vectors are G*H long with gate g of unit j at g*H + j; only the
 * recurrent product a has its own gate stride `as` (each thread keeps its part
 * of a compact, see pyrnn_generic.inc).
 *
 * exp is written in plain arithmetic so that GCC vectorizes the loops
 * (a call into libm keeps them scalar), as in the Numba backend:
 *   x = k ln2 + r, |r| <= ln2/2 (k rounded to nearest);  exp(x) - 1 = 2^k expm1(r) + (2^k - 1),
 *   expm1(r) by its Taylor polynomial, 2^k from the exponent bits.
 * Only non-positive arguments reach it (tanh and sigmoid pass -|a|), so it
 * cannot overflow; it is clamped above the underflow limit.
 */

#if REAL_IS_DOUBLE
typedef int64_t FN(bits_t);
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define MIN_ARG (-708.0)
#define EXP_BIAS 1023
#define MANT_BITS 52
#define ROUND_MAGIC 6755399441055744.0
#else
typedef int32_t FN(bits_t);
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define MIN_ARG (-87.0f)
#define EXP_BIAS 127
#define MANT_BITS 23
#define ROUND_MAGIC 12582912.0f
#endif

/* 2^k and the polynomial p = expm1(r) with x = k ln2 + r, for x <= 0 (clamped). */
static inline void FN(exp_parts)(REAL x, REAL *two_k_out, REAL *p_out)
{
    x = x < MIN_ARG ? MIN_ARG : x;
    /* k = round(x / ln2) by the 1.5 * 2^mantissa trick: plain IEEE arithmetic that
     * GCC vectorizes (floor() it would not: a libm call). */
    const REAL k = (x * R(1.4426950408889634) + ROUND_MAGIC) - ROUND_MAGIC;
    const REAL r = (x - k * LN2_HI) - k * LN2_LO;
#if REAL_IS_DOUBLE
    const REAL p = r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (
        1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (
        1.0 / 3628800 + r * (1.0 / 39916800 + r * (1.0 / 479001600 + r * (1.0 / 6227020800)))))))))))));
#else
    const REAL p = r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (
        1.0f / 720 + r * (1.0f / 5040 + r * (1.0f / 40320))))))));
#endif
    /* k is in [MIN_ARG / ln2 - 1, 1]: the biased exponent stays in range. A NaN
     * x makes k NaN; the bits are then garbage but p is NaN, so is the result. */
    const FN(bits_t) bits = (FN(bits_t))((FN(bits_t))(k == k ? k : 0) + EXP_BIAS) << MANT_BITS;
    REAL two_k;
    memcpy(&two_k, &bits, sizeof two_k);   /* a bit cast GCC can vectorize (a union it cannot) */
    *two_k_out = two_k;
    *p_out = p;
}

/* exp(x) - 1 for x <= 0 (NaN passes through): no cancellation near 0. */
static inline REAL FN(expm1_nonpos)(REAL x)
{
    REAL two_k, p;
    FN(exp_parts)(x, &two_k, &p);
    return two_k * p + (two_k - R(1.0));
}

/* exp(x) for x <= 0: full relative accuracy down to the clamp, where
 * expm1(x) + 1 would keep only the absolute accuracy; exactly 0 below it (as
 * IEEE exp underflows), so sigmoid(-inf) = 0 and 0 * inf stays NaN downstream,
 * as in torch: an infinite state must not come out finite. */
static inline REAL FN(exp_nonpos)(REAL x)
{
    REAL two_k, p;
    FN(exp_parts)(x, &two_k, &p);
    return x < MIN_ARG ? R(0.0) : two_k * (R(1.0) + p);
}

static inline REAL FN(tanh_)(REAL a)
{
    const REAL m = FN(expm1_nonpos)(R(-2.0) * FABS(a));
    return COPYSIGN(-m / (R(2.0) + m), a);
}

static inline REAL FN(sigmoid)(REAL a)
{
    const REAL e = FN(exp_nonpos)(-FABS(a));
    return (a >= R(0.0) ? R(1.0) : e) / (R(1.0) + e);
}

#undef LN2_HI
#undef LN2_LO
#undef MIN_ARG
#undef EXP_BIAS
#undef MANT_BITS
#undef ROUND_MAGIC

/* ---------------------------------------------------------------- LSTM (i, f, g, o) */

/* pre (4H): x W_ih^T at this step, overwritten with the activated gates when save;
 * bias (4H): b_ih + b_hh; a: h W_hh^T, gate g of unit j at a[g * as + j]; h_in (H) state entering; c (H) in place;
 * h_out, y (H) out; h_prev, c_prev, tanh_c (H) saved for backward when save. */
static inline void FN(lstm_fwd_row)(int H, int j0, int j1, int save, REAL *restrict pre,
                                    const REAL *restrict bias, const REAL *restrict a, int as, const REAL *restrict h_in,
                                    REAL *restrict c, REAL *restrict h_out, REAL *restrict y,
                                    REAL *restrict h_prev, REAL *restrict c_prev,
                                    REAL *restrict tanh_c)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL i = FN(sigmoid)(pre[j] + bias[j] + a[j]);
        const REAL f = FN(sigmoid)(pre[H + j] + bias[H + j] + a[as + j]);
        const REAL g = FN(tanh_)(pre[2 * H + j] + bias[2 * H + j] + a[2 * as + j]);
        const REAL o = FN(sigmoid)(pre[3 * H + j] + bias[3 * H + j] + a[3 * as + j]);
        const REAL c_new = f * c[j] + i * g;
        const REAL tc = FN(tanh_)(c_new);
        if (save) {   /* loop-invariant: GCC unswitches it and vectorizes both versions */
            pre[j] = i; pre[H + j] = f; pre[2 * H + j] = g; pre[3 * H + j] = o;
            h_prev[j] = h_in[j]; c_prev[j] = c[j]; tanh_c[j] = tc;
        }
        c[j] = c_new;
        h_out[j] = y[j] = o * tc;
    }
}

/* The LSTM with projections (h_t = W_hr m_t): the same gates, but the row's result is
 * m = o * tanh(c_new) (H), which the time loop then projects; h_prev (P wide) is saved there. */
static inline void FN(lstmp_fwd_row)(int H, int j0, int j1, int save, REAL *restrict pre,
                                     const REAL *restrict bias, const REAL *restrict a, int as,
                                     REAL *restrict c, REAL *restrict m, REAL *restrict c_prev,
                                     REAL *restrict tanh_c)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL i = FN(sigmoid)(pre[j] + bias[j] + a[j]);
        const REAL f = FN(sigmoid)(pre[H + j] + bias[H + j] + a[as + j]);
        const REAL g = FN(tanh_)(pre[2 * H + j] + bias[2 * H + j] + a[2 * as + j]);
        const REAL o = FN(sigmoid)(pre[3 * H + j] + bias[3 * H + j] + a[3 * as + j]);
        const REAL c_new = f * c[j] + i * g;
        const REAL tc = FN(tanh_)(c_new);
        if (save) {
            pre[j] = i; pre[H + j] = f; pre[2 * H + j] = g; pre[3 * H + j] = o;
            c_prev[j] = c[j]; tanh_c[j] = tc;
        }
        c[j] = c_new;
        m[j] = o * tc;
    }
}

/* gd (4H): saved gates in, d loss / d pre-activations out (in place);
 * dh, dc (H) in place: enter as d h_t, d c_t (dh without dy), dc leaves as d c_{t-1}. */
static inline void FN(lstm_bwd_row)(int H, int j0, int j1, REAL *restrict gd,
                                    const REAL *restrict dy, const REAL *restrict c_prev,
                                    const REAL *restrict tanh_c, const REAL *restrict dh,
                                    REAL *restrict dc)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL i = gd[j], f = gd[H + j], g = gd[2 * H + j], o = gd[3 * H + j];
        const REAL tc = tanh_c[j];
        const REAL dh_t = dh[j] + dy[j];
        const REAL dc_t = dc[j] + dh_t * o * (R(1.0) - tc * tc);
        gd[j] = dc_t * g * i * (R(1.0) - i);
        gd[H + j] = dc_t * c_prev[j] * f * (R(1.0) - f);
        gd[2 * H + j] = dc_t * i * (R(1.0) - g * g);
        gd[3 * H + j] = dh_t * tc * o * (R(1.0) - o);
        dc[j] = dc_t * f;
    }
}

/* ---------------------------------------------------------------- layer-normalised LSTM
 * LN(v) = (v - mean) * rstd * w + b per row. The time loop gives each row's statistics (summed
 * in double over every thread's units, see pyrnn_generic.inc); these rows do the rest. */

/* pre (4H): LN(x W_ih^T; ln_ih) in, the activated gates out (always: the output row reads o);
 * a: h W_hh^T, gate g of unit j at a[g * as + j]; mean/rstd: the statistics of a's whole row;
 * ln_w, ln_b (4H): ln_hh; c (H) in place; save: hhat (4H) = (a - mean) * rstd, h_prev, c_prev. */
static inline void FN(lnlstm_gates_row)(int H, int j0, int j1, int save, REAL *restrict pre,
                                        const REAL *restrict bias, const REAL *restrict a, int as, REAL mean,
                                        REAL rstd, const REAL *restrict ln_w, const REAL *restrict ln_b,
                                        const REAL *restrict h_in, REAL *restrict c, REAL *restrict hhat,
                                        REAL *restrict h_prev, REAL *restrict c_prev)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL ai = (a[j] - mean) * rstd, af = (a[as + j] - mean) * rstd;
        const REAL ag = (a[2 * as + j] - mean) * rstd, ao = (a[3 * as + j] - mean) * rstd;
        const REAL i = FN(sigmoid)(pre[j] + ai * ln_w[j] + ln_b[j] + bias[j]);
        const REAL f = FN(sigmoid)(pre[H + j] + af * ln_w[H + j] + ln_b[H + j] + bias[H + j]);
        const REAL g = FN(tanh_)(pre[2 * H + j] + ag * ln_w[2 * H + j] + ln_b[2 * H + j] + bias[2 * H + j]);
        const REAL o = FN(sigmoid)(pre[3 * H + j] + ao * ln_w[3 * H + j] + ln_b[3 * H + j] + bias[3 * H + j]);
        if (save) {
            hhat[j] = ai; hhat[H + j] = af; hhat[2 * H + j] = ag; hhat[3 * H + j] = ao;
            h_prev[j] = h_in[j]; c_prev[j] = c[j];
        }
        pre[j] = i; pre[H + j] = f; pre[2 * H + j] = g; pre[3 * H + j] = o;
        c[j] = f * c[j] + i * g;
    }
}

/* h = o * tanh(LN(c; ln_c)) with c's row statistics mean/rstd; save: chat, tanh_n (H). */
static inline void FN(lnlstm_out_row)(int j0, int j1, int save, const REAL *restrict o, const REAL *restrict c,
                                      REAL mean, REAL rstd, const REAL *restrict ln_w, const REAL *restrict ln_b,
                                      REAL *restrict h_out, REAL *restrict y, REAL *restrict chat,
                                      REAL *restrict tanh_n)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL ch = (c[j] - mean) * rstd;
        const REAL tn = FN(tanh_)(ch * ln_w[j] + ln_b[j]);
        if (save) {
            chat[j] = ch; tanh_n[j] = tn;
        }
        h_out[j] = y[j] = o[j] * tn;
    }
}

/* Backward, first half: d LN(c_t) and the o gate. gd (4H): saved gates in; its o slot leaves as
 * d a_o. dh (carry), dy (H). dlnc (H) out: d loss / d LN(c_t) (written over tanh_n's saved row:
 * tanh_n in, dlnc out). sums: sum over these units of g = dlnc * ln_c_w and of g * chat. */
static inline void FN(lnlstm_bwd_out_row)(int H, int j0, int j1, REAL *restrict gd, const REAL *restrict dy,
                                          const REAL *restrict dh, REAL *restrict tanh_n_dlnc,
                                          const REAL *restrict chat, const REAL *restrict ln_c_w, double sums[2])
{
    double s = 0.0, q = 0.0;
    for (int j = j0; j < j1; j++) {
        const REAL o = gd[3 * H + j], tn = tanh_n_dlnc[j];
        const REAL dh_t = dh[j] + dy[j];
        const REAL dl = dh_t * o * (R(1.0) - tn * tn);
        gd[3 * H + j] = dh_t * tn * o * (R(1.0) - o);
        tanh_n_dlnc[j] = dl;
        const double gc = (double)dl * ln_c_w[j];
        s += gc;
        q += gc * chat[j];
    }
    sums[0] = s;
    sums[1] = q;
}

/* Backward, second half: dc_t = dc + LN_c backwards (means m1 = mean(g), m2 = mean(g * chat) over
 * the row), then the i, f, g gate gradients into gd; dc leaves as d c_{t-1}; chat is overwritten
 * with dlnc * chat (what d ln_c_weight sums). sums: over these units' 4 gates of gh = d a * ln_hh_w
 * and of gh * hhat. */
static inline void FN(lnlstm_bwd_gates_row)(int H, int j0, int j1, REAL *restrict gd, const REAL *restrict dlnc,
                                            REAL *restrict chat, REAL rstd_c, REAL m1, REAL m2,
                                            const REAL *restrict ln_c_w, const REAL *restrict c_prev,
                                            REAL *restrict dc, const REAL *restrict hhat,
                                            const REAL *restrict ln_hh_w, double sums[2])
{
    double s = 0.0, q = 0.0;
    for (int j = j0; j < j1; j++) {
        const REAL i = gd[j], f = gd[H + j], g = gd[2 * H + j];
        const REAL dc_t = dc[j] + rstd_c * (dlnc[j] * ln_c_w[j] - m1 - chat[j] * m2);
        gd[j] = dc_t * g * i * (R(1.0) - i);
        gd[H + j] = dc_t * c_prev[j] * f * (R(1.0) - f);
        gd[2 * H + j] = dc_t * i * (R(1.0) - g * g);
        dc[j] = dc_t * f;
        chat[j] = dlnc[j] * chat[j];
        for (int k = 0; k < 4; k++) {
            const double gh = (double)gd[k * H + j] * ln_hh_w[k * H + j];
            s += gh;
            q += gh * hhat[k * H + j];
        }
    }
    sums[0] = s;
    sums[1] = q;
}

/* Backward, last: d (W_hh h_{t-1}) = LN_hh backwards of gd (means m1, m2 over the row's 4H) into
 * d_hid; hhat is overwritten with gd * hhat (what d ln_hh_weight sums). */
static inline void FN(lnlstm_bwd_hid_row)(int H, int j0, int j1, const REAL *restrict gd, REAL *restrict hhat,
                                          REAL rstd_h, REAL m1, REAL m2, const REAL *restrict ln_hh_w,
                                          REAL *restrict d_hid)
{
    for (int k = 0; k < 4; k++)
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            const int u = k * H + j;
            d_hid[u] = rstd_h * (gd[u] * ln_hh_w[u] - m1 - hhat[u] * m2);
            hhat[u] = gd[u] * hhat[u];
        }
}

/* ---------------------------------------------------------------- GRU (r, z, n) */

/* pre (3H): x W_ih^T, overwritten with r, z, n when save; bias (3H): b_ih + b_hh for r
 * and z, b_in for n; a: h W_hh^T (gate g of unit j at a[g * as + j]);
 * b_hh (3H): b_hn at [2H, 3H) (zeros without bias); hn (H) saved W_hn h + b_hn. */
static inline void FN(gru_fwd_row)(int H, int j0, int j1, int save, REAL *restrict pre,
                                   const REAL *restrict bias, const REAL *restrict a, int as, const REAL *restrict b_hh,
                                   const REAL *restrict h_in, REAL *restrict h_out,
                                   REAL *restrict y, REAL *restrict h_prev, REAL *restrict hn)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL r = FN(sigmoid)(pre[j] + bias[j] + a[j]);
        const REAL z = FN(sigmoid)(pre[H + j] + bias[H + j] + a[as + j]);
        const REAL hw_n = a[2 * as + j] + b_hh[2 * H + j];
        const REAL n = FN(tanh_)(pre[2 * H + j] + bias[2 * H + j] + r * hw_n);
        const REAL hp = h_in[j];
        if (save) {
            pre[j] = r; pre[H + j] = z; pre[2 * H + j] = n;
            h_prev[j] = hp; hn[j] = hw_n;
        }
        h_out[j] = y[j] = n + z * (hp - n);
    }
}

/* gd (3H): saved r, z, n in, d loss / d (x W_ih^T + b_ih) out (in place);
 * d_hid (3H) out: d loss / d (h W_hh^T + b_hh); dh (H) in: d h_t without dy,
 * out: the direct part z * dh_t of d h_{t-1} (the W_hh part is added later). */
static inline void FN(gru_bwd_row)(int H, int j0, int j1, REAL *restrict gd, REAL *restrict d_hid,
                                   const REAL *restrict dy, const REAL *restrict h_prev,
                                   const REAL *restrict hn, REAL *restrict dh)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL r = gd[j], z = gd[H + j], n = gd[2 * H + j];
        const REAL dh_t = dh[j] + dy[j];
        const REAL da_n = dh_t * (R(1.0) - z) * (R(1.0) - n * n);
        const REAL da_r = da_n * hn[j] * r * (R(1.0) - r);
        const REAL da_z = dh_t * (h_prev[j] - n) * z * (R(1.0) - z);
        gd[j] = d_hid[j] = da_r;
        gd[H + j] = d_hid[H + j] = da_z;
        gd[2 * H + j] = da_n;
        d_hid[2 * H + j] = da_n * r;
        dh[j] = dh_t * z;
    }
}

/* ---------------------------------------------------------------- RNN (tanh or relu) */

/* pre (H): x W_ih^T, overwritten with the new state when save; bias (H): b_ih + b_hh. */
static inline void FN(rnn_fwd_row)(int j0, int j1, int save, int relu, REAL *restrict pre,
                                   const REAL *restrict bias, const REAL *restrict a, const REAL *restrict h_in,
                                   REAL *restrict h_out, REAL *restrict y, REAL *restrict h_prev)
{
    /* Separate loops per case: GCC vectorizes each, not one with both branches. */
    if (relu) {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            const REAL v = pre[j] + bias[j] + a[j];
            h_out[j] = y[j] = v < R(0.0) ? R(0.0) : v;   /* NaN stays NaN, as torch's relu */
        }
    } else {
#pragma omp simd
        for (int j = j0; j < j1; j++) h_out[j] = y[j] = FN(tanh_)(pre[j] + bias[j] + a[j]);
    }
    if (save && j1 > j0) {   /* plain copies (GCC turned the loop into these calls anyway) */
        memcpy(h_prev + j0, h_in + j0, sizeof(REAL) * (size_t)(j1 - j0));
        memcpy(pre + j0, h_out + j0, sizeof(REAL) * (size_t)(j1 - j0));
    }
}

/* gd (H): saved new state in, d loss / d pre-activation out (in place). */
static inline void FN(rnn_bwd_row)(int j0, int j1, int relu, REAL *restrict gd,
                                   const REAL *restrict dy, const REAL *restrict dh)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL hv = gd[j];
        const REAL dh_t = dh[j] + dy[j];
        /* relu: the gradient passes unless the output is <= 0 (a NaN output passes it, as in torch) */
        gd[j] = relu ? (hv <= R(0.0) ? R(0.0) : dh_t) : dh_t * (R(1.0) - hv * hv);
    }
}

/* ---------------------------------------------------------------- IndRNN (tanh or relu) */

/* pre (H): x W_ih^T, overwritten with the new state when save; bias (H): b_ih;
 * u (H): the elementwise recurrent weight. */
static inline void FN(indrnn_fwd_row)(int j0, int j1, int save, int relu, REAL *restrict pre,
                                      const REAL *restrict bias, const REAL *restrict u,
                                      const REAL *restrict h_in, REAL *restrict h_out, REAL *restrict y,
                                      REAL *restrict h_prev)
{
    if (relu) {
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            const REAL v = pre[j] + bias[j] + u[j] * h_in[j];
            h_out[j] = y[j] = v < R(0.0) ? R(0.0) : v;   /* NaN stays NaN, as torch's relu */
        }
    } else {
#pragma omp simd
        for (int j = j0; j < j1; j++) h_out[j] = y[j] = FN(tanh_)(pre[j] + bias[j] + u[j] * h_in[j]);
    }
    if (save && j1 > j0) {
        memcpy(h_prev + j0, h_in + j0, sizeof(REAL) * (size_t)(j1 - j0));
        memcpy(pre + j0, h_out + j0, sizeof(REAL) * (size_t)(j1 - j0));
    }
}

/* gd (H): saved new state in, d loss / d pre-activation out (in place); dh (H): d h_t
 * (without dy) in, d h_{t-1} = u * (d pre-activation) out - the whole recurrent part. */
static inline void FN(indrnn_bwd_row)(int j0, int j1, int relu, REAL *restrict gd,
                                      const REAL *restrict dy, const REAL *restrict u, REAL *restrict dh)
{
#pragma omp simd
    for (int j = j0; j < j1; j++) {
        const REAL hv = gd[j];
        const REAL dh_t = dh[j] + dy[j];
        const REAL da = relu ? (hv <= R(0.0) ? R(0.0) : dh_t) : dh_t * (R(1.0) - hv * hv);
        gd[j] = da;
        dh[j] = u[j] * da;
    }
}
