/*
 * Test of the pyrnn C library through pyrnn.h only (C99).
 *
 * One line per check ("PASS ..." / "FAIL ..."); exit status 0 when every
 * check passed, 1 otherwise. For every mode (RNN_TANH, RNN_RELU, LSTM, GRU):
 *   - float64 forward against a plain libm implementation (gate order, GRU
 *     formula, lengths, reverse);
 *   - float64 gradient check by central finite differences of
 *       L = sum(y * wy) + sum(h_n * wh) (+ sum(c_n * wc) for LSTM)
 *     against pyrnn_backward_f64 (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh);
 *   - dx = NULL (no input gradient) or NULL weight gradients (frozen weights) leave the other
 *     gradients unchanged;
 *   - padding semantics (y == 0 past each length, each sequence alone gives
 *     the same y and final state);
 *   - float32 forward/backward against float64;
 *   - training=1 forward gives the same y as training=0;
 *   - invalid arguments give PYRNN_EINVAL;
 *   - 1, 2, 3 and the default number of threads give the same results.
 * Every buffer is allocated with exactly the size the API asks for, so that
 * AddressSanitizer sees any overrun.
 */
#include "pyrnn.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reporting */

static int g_checks = 0, g_failed = 0;

static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    g_checks++;
    if (!ok)
        g_failed++;
    printf("%s ", ok ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *mode_name(int mode)
{
    switch (mode) {
    case PYRNN_RNN_TANH: return "RNN_TANH";
    case PYRNN_RNN_RELU: return "RNN_RELU";
    case PYRNN_LSTM: return "LSTM";
    case PYRNN_GRU: return "GRU";
    default: return "?";
    }
}

static int gates(int mode)
{
    return mode == PYRNN_LSTM ? PYRNN_GATES_LSTM : mode == PYRNN_GRU ? PYRNN_GATES_GRU : PYRNN_GATES_RNN;
}

/* worst error of each mode over all gradient checks, for the summary */
static double g_worst_grad[4];

/* ---------------------------------------------------------------- helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static void seed(uint64_t s) { g_rng = s * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; if (!g_rng) g_rng = 1; }

/* xorshift64*, uniform in [-0.5, 0.5) */
static double urand(void)
{
    uint64_t r;
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    r = g_rng * 0x2545F4914F6CDD1Dull;
    return (double)(r >> 11) * (1.0 / 9007199254740992.0) - 0.5;
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static double *dalloc(size_t n) { return (double *)xmalloc(n * sizeof(double)); }
static float *falloc(size_t n) { return (float *)xmalloc(n * sizeof(float)); }

static double *drand_new(size_t n)
{
    double *p = dalloc(n);
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = urand();
    return p;
}

static double *dcopy_new(const double *a, size_t n)
{
    double *p;
    if (!a)
        return NULL;
    p = dalloc(n);
    memcpy(p, a, n * sizeof(double));
    return p;
}

static float *fcopy_new(const double *a, size_t n)
{
    float *p;
    size_t i;
    if (!a)
        return NULL;
    p = falloc(n);
    for (i = 0; i < n; i++)
        p[i] = (float)a[i];
    return p;
}

static void dfill(double *p, size_t n, double v)
{
    size_t i;
    if (p)
        for (i = 0; i < n; i++)
            p[i] = v;
}

static void ffill(float *p, size_t n, float v)
{
    size_t i;
    if (p)
        for (i = 0; i < n; i++)
            p[i] = v;
}

/* max |a|, NaN counted as infinite; 0 for a NULL array */
static double dmaxabs(const double *a, size_t n)
{
    double m = 0;
    size_t i;
    if (!a)
        return 0;
    for (i = 0; i < n; i++) {
        if (a[i] != a[i])
            return INFINITY;
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    }
    return m;
}

/* max |a - b|, NaN counted as infinite */
static double dmaxdiff(const double *a, const double *b, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (d != d)
            return INFINITY;
        if (d > m)
            m = d;
    }
    return m;
}

static double fdmaxdiff(const float *a, const double *b, size_t n)
{
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d != d)
            return INFINITY;
        if (d > m)
            m = d;
    }
    return m;
}

static double max1(double a) { return a > 1.0 ? a : 1.0; }

/* ---------------------------------------------------------------- a problem */

typedef struct {
    int mode, T, B, I, H, G, reverse, has_bias;
    int64_t *lengths; /* NULL: all T */
    double *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh; /* c0 NULL unless LSTM */
    double *wy, *wh, *wc;                             /* loss weights; wc NULL unless LSTM */
    /* scratch for loss evaluations (inference) */
    double *h, *c, *y, *work;
} Prob;

static size_t n_x(const Prob *p) { return (size_t)p->T * p->B * p->I; }
static size_t n_y(const Prob *p) { return (size_t)p->T * p->B * p->H; }
static size_t n_s(const Prob *p) { return (size_t)p->B * p->H; }
static size_t n_wih(const Prob *p) { return (size_t)p->G * p->H * p->I; }
static size_t n_whh(const Prob *p) { return (size_t)p->G * p->H * p->H; }
static size_t n_b(const Prob *p) { return (size_t)p->G * p->H; }
static int is_lstm(const Prob *p) { return p->mode == PYRNN_LSTM; }

static void prob_init(Prob *p, int mode, int T, int B, int I, int H, int reverse,
                      const int64_t *lengths, int has_bias, uint64_t s)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->T = T;
    p->B = B;
    p->I = I;
    p->H = H;
    p->G = gates(mode);
    p->reverse = reverse;
    p->has_bias = has_bias;
    if (lengths) {
        p->lengths = (int64_t *)xmalloc((size_t)B * sizeof(int64_t));
        memcpy(p->lengths, lengths, (size_t)B * sizeof(int64_t));
    }
    seed(s);
    p->x = drand_new(n_x(p));
    p->h0 = drand_new(n_s(p));
    p->c0 = is_lstm(p) ? drand_new(n_s(p)) : NULL;
    p->w_ih = drand_new(n_wih(p));
    p->w_hh = drand_new(n_whh(p));
    p->b_ih = has_bias ? drand_new(n_b(p)) : NULL;
    p->b_hh = has_bias ? drand_new(n_b(p)) : NULL;
    p->wy = drand_new(n_y(p));
    p->wh = drand_new(n_s(p));
    p->wc = is_lstm(p) ? drand_new(n_s(p)) : NULL;
    p->h = dalloc(n_s(p));
    p->c = is_lstm(p) ? dalloc(n_s(p)) : NULL;
    p->y = dalloc(n_y(p));
    p->work = dalloc(pyrnn_work_size(mode, T, B, I, H, H, 0));
}

static void prob_free(Prob *p)
{
    free(p->lengths);
    free(p->x);
    free(p->h0);
    free(p->c0);
    free(p->w_ih);
    free(p->w_hh);
    free(p->b_ih);
    free(p->b_hh);
    free(p->wy);
    free(p->wh);
    free(p->wc);
    free(p->h);
    free(p->c);
    free(p->y);
    free(p->work);
}

static void prob_desc(const Prob *p, char *buf, size_t n)
{
    char lb[128] = "NULL";
    if (p->lengths) {
        int b, k = 0;
        k += snprintf(lb + k, sizeof lb - (size_t)k, "{");
        for (b = 0; b < p->B && k < (int)sizeof lb - 16; b++)
            k += snprintf(lb + k, sizeof lb - (size_t)k, "%s%lld", b ? "," : "", (long long)p->lengths[b]);
        if (b < p->B)
            k += snprintf(lb + k, sizeof lb - (size_t)k, ",...");
        snprintf(lb + k, sizeof lb - (size_t)k, "}");
    }
    snprintf(buf, n, "%s T=%d B=%d I=%d H=%d reverse=%d lengths=%s bias=%s", mode_name(p->mode), p->T,
             p->B, p->I, p->H, p->reverse, lb, p->has_bias ? "yes" : "NULL");
}

/* float64 forward from h0/c0 into h, c, y with the given work (training 0/1) */
static int fwd64(const Prob *p, int training, double *h, double *c, double *y, double *work)
{
    memcpy(h, p->h0, n_s(p) * sizeof(double));
    if (c)
        memcpy(c, p->c0, n_s(p) * sizeof(double));
    return pyrnn_forward_f64(p->mode, p->T, p->B, p->I, p->H, p->H, p->x, p->w_ih, p->w_hh, p->b_ih, p->b_hh, NULL, NULL, p->lengths, p->reverse, training, h, c, y, work);
}

static double g_loss_rc_bad = 0; /* set when a forward inside the loss fails */

static double loss64(Prob *p)
{
    double L = 0;
    size_t i;
    int rc = fwd64(p, 0, p->h, p->c, p->y, p->work);
    if (rc != PYRNN_OK)
        g_loss_rc_bad = 1;
    for (i = 0; i < n_y(p); i++)
        L += p->y[i] * p->wy[i];
    for (i = 0; i < n_s(p); i++)
        L += p->h[i] * p->wh[i];
    if (p->c)
        for (i = 0; i < n_s(p); i++)
            L += p->c[i] * p->wc[i];
    return L;
}

/* Analytic gradients of L (float64). Every output is pre-filled with garbage
 * so that "writes, does not accumulate" and the dx zeros at padded steps are
 * checked too. */
typedef struct {
    double *dx, *dh0, *dc0, *dw_ih, *dw_hh, *db_ih, *db_hh;
} Grad64;

/* with_dx = 0: dx = NULL (an input that needs no gradient); with_weights = 0: every weight
 * gradient NULL (frozen weights); what is not asked for stays NULL in g */
static int grad64_with(const Prob *p, Grad64 *g, int with_dx, int with_weights)
{
    size_t ws = pyrnn_work_size(p->mode, p->T, p->B, p->I, p->H, p->H, 1);
    double *work = dalloc(ws), *bwork = dalloc(pyrnn_backward_work_size(p->mode, p->T, p->B, p->H, p->H));
    double *h = dalloc(n_s(p)), *c = is_lstm(p) ? dalloc(n_s(p)) : NULL, *y = dalloc(n_y(p));
    int rc;
    g->dx = with_dx ? dalloc(n_x(p)) : NULL;
    g->dh0 = dcopy_new(p->wh, n_s(p));
    g->dc0 = is_lstm(p) ? dcopy_new(p->wc, n_s(p)) : NULL;
    g->dw_ih = with_weights ? dalloc(n_wih(p)) : NULL;
    g->dw_hh = with_weights ? dalloc(n_whh(p)) : NULL;
    g->db_ih = with_weights && p->has_bias ? dalloc(n_b(p)) : NULL;
    g->db_hh = with_weights && p->has_bias ? dalloc(n_b(p)) : NULL;
    if (g->dx) dfill(g->dx, n_x(p), 777.0);
    if (g->dw_ih) dfill(g->dw_ih, n_wih(p), 777.0);
    if (g->dw_hh) dfill(g->dw_hh, n_whh(p), 777.0);
    if (g->db_ih) dfill(g->db_ih, n_b(p), 777.0);
    if (g->db_hh) dfill(g->db_hh, n_b(p), 777.0);
    rc = fwd64(p, 1, h, c, y, work);
    if (rc == PYRNN_OK)
        rc = pyrnn_backward_f64(p->mode, p->T, p->B, p->I, p->H, p->H, p->x, p->w_ih, p->w_hh, NULL, NULL, p->lengths, p->reverse, work, p->wy, g->dh0, g->dc0, g->dx, g->dw_ih, g->dw_hh, g->db_ih, g->db_hh, NULL, NULL, bwork);
    free(work);
    free(bwork);
    free(h);
    free(c);
    free(y);
    return rc;
}

static int grad64(const Prob *p, Grad64 *g) { return grad64_with(p, g, 1, 1); }

static void grad64_free(Grad64 *g)
{
    free(g->dx);
    free(g->dh0);
    free(g->dc0);
    free(g->dw_ih);
    free(g->dw_hh);
    free(g->db_ih);
    free(g->db_hh);
}

/* ---------------------------------------------------------------- checks */

#define GRAD_EPS 1e-6
#define GRAD_TOL 1e-6

/* relative error of one analytic gradient against central differences */
static double fd_error(Prob *p, double *v, size_t n, const double *analytic)
{
    double maxdiff = 0, maxnum = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double save = v[i], lp, lm, num, d;
        v[i] = save + GRAD_EPS;
        lp = loss64(p);
        v[i] = save - GRAD_EPS;
        lm = loss64(p);
        v[i] = save;
        num = (lp - lm) / (2 * GRAD_EPS);
        d = fabs(analytic[i] - num);
        if (d != d)
            d = INFINITY;
        if (d > maxdiff)
            maxdiff = d;
        if (fabs(num) > maxnum)
            maxnum = fabs(num);
    }
    return maxdiff / max1(maxnum);
}

static void gradcheck(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths,
                      int has_bias, uint64_t s)
{
    Prob p;
    Grad64 g;
    char desc[256], msg[512];
    int rc, k = 0;
    double e[7] = {0, 0, 0, 0, 0, 0, 0}, worst = 0;
    const char *names[7] = {"dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"};
    int i;

    prob_init(&p, mode, T, B, I, H, reverse, lengths, has_bias, s);
    prob_desc(&p, desc, sizeof desc);
    rc = grad64(&p, &g);
    if (rc != PYRNN_OK) {
        check(0, "gradcheck %s: forward/backward returned %d", desc, rc);
        grad64_free(&g);
        prob_free(&p);
        return;
    }
    g_loss_rc_bad = 0;
    e[0] = fd_error(&p, p.x, n_x(&p), g.dx);
    e[1] = fd_error(&p, p.h0, n_s(&p), g.dh0);
    if (is_lstm(&p))
        e[2] = fd_error(&p, p.c0, n_s(&p), g.dc0);
    e[3] = fd_error(&p, p.w_ih, n_wih(&p), g.dw_ih);
    e[4] = fd_error(&p, p.w_hh, n_whh(&p), g.dw_hh);
    if (has_bias) {
        e[5] = fd_error(&p, p.b_ih, n_b(&p), g.db_ih);
        e[6] = fd_error(&p, p.b_hh, n_b(&p), g.db_hh);
    }
    for (i = 0; i < 7; i++) {
        if (i == 2 && !is_lstm(&p))
            continue;
        if (i >= 5 && !has_bias)
            continue;
        k += snprintf(msg + k, sizeof msg - (size_t)k, " %s=%.2e", names[i], e[i]);
        if (!(e[i] <= worst))
            worst = e[i] == e[i] ? e[i] : INFINITY;
    }
    if (worst > g_worst_grad[mode])
        g_worst_grad[mode] = worst;
    check(worst <= GRAD_TOL && !g_loss_rc_bad, "gradcheck %s: max rel err %.2e (tol %.0e);%s%s", desc, worst,
          GRAD_TOL, msg, g_loss_rc_bad ? " [a forward in the loss failed]" : "");
    grad64_free(&g);
    prob_free(&p);
}

/* Straightforward float64 forward with libm, for checking what the kernels
 * compute (the gradient check only checks backward against forward). PyTorch
 * gate order and GRU formula as in pyrnn.h. */
static double sigm(double a) { return 1.0 / (1.0 + exp(-a)); }

static void reference_forward(const Prob *p, double *h, double *c, double *y)
{
    const int T = p->T, B = p->B, I = p->I, H = p->H, G = p->G;
    double *gi = dalloc((size_t)G * H), *gh = dalloc((size_t)G * H), *hn = dalloc((size_t)H);
    int b, s, t, j, k;
    memcpy(h, p->h0, n_s(p) * sizeof(double));
    if (c)
        memcpy(c, p->c0, n_s(p) * sizeof(double));
    for (k = 0; k < T * B * H; k++)
        y[k] = 0.0;
    for (b = 0; b < B; b++) {
        const int L = p->lengths ? (int)p->lengths[b] : T;
        double *hb = h + (size_t)b * H, *cb = c ? c + (size_t)b * H : NULL;
        for (s = 0; s < L; s++) {
            const double *xt;
            t = p->reverse ? L - 1 - s : s;
            xt = p->x + ((size_t)t * B + b) * I;
            for (j = 0; j < G * H; j++) {
                double a = p->b_ih ? p->b_ih[j] : 0.0, r = p->b_hh ? p->b_hh[j] : 0.0;
                for (k = 0; k < I; k++)
                    a += p->w_ih[(size_t)j * I + k] * xt[k];
                for (k = 0; k < H; k++)
                    r += p->w_hh[(size_t)j * H + k] * hb[k];
                gi[j] = a;
                gh[j] = r;
            }
            for (j = 0; j < H; j++) {
                double v;
                switch (p->mode) {
                case PYRNN_RNN_TANH:
                    hn[j] = tanh(gi[j] + gh[j]);
                    break;
                case PYRNN_RNN_RELU:
                    v = gi[j] + gh[j];
                    hn[j] = v > 0 ? v : 0.0;
                    break;
                case PYRNN_LSTM: {
                    double ig = sigm(gi[j] + gh[j]), fg = sigm(gi[H + j] + gh[H + j]);
                    double gg = tanh(gi[2 * H + j] + gh[2 * H + j]), og = sigm(gi[3 * H + j] + gh[3 * H + j]);
                    cb[j] = fg * cb[j] + ig * gg;
                    hn[j] = og * tanh(cb[j]);
                    break;
                }
                default: { /* GRU */
                    double r = sigm(gi[j] + gh[j]), z = sigm(gi[H + j] + gh[H + j]);
                    double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
                    hn[j] = (1.0 - z) * n + z * hb[j];
                    break;
                }
                }
            }
            memcpy(hb, hn, (size_t)H * sizeof(double));
            memcpy(y + ((size_t)t * B + b) * H, hn, (size_t)H * sizeof(double));
        }
    }
    free(gi);
    free(gh);
    free(hn);
}

static void reference_check(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths,
                            int has_bias, uint64_t s)
{
    Prob p;
    char desc[256];
    double *h = NULL, *c = NULL, *y = NULL, e, scale;
    int rc;
    prob_init(&p, mode, T, B, I, H, reverse, lengths, has_bias, s);
    prob_desc(&p, desc, sizeof desc);
    rc = fwd64(&p, 0, p.h, p.c, p.y, p.work);
    if (rc != PYRNN_OK) {
        check(0, "reference %s: forward returned %d", desc, rc);
        prob_free(&p);
        return;
    }
    h = dalloc(n_s(&p));
    c = is_lstm(&p) ? dalloc(n_s(&p)) : NULL;
    y = dalloc(n_y(&p));
    reference_forward(&p, h, c, y);
    scale = max1(dmaxabs(y, n_y(&p)));
    e = dmaxdiff(p.y, y, n_y(&p));
    if (dmaxdiff(p.h, h, n_s(&p)) > e)
        e = dmaxdiff(p.h, h, n_s(&p));
    if (c && dmaxdiff(p.c, c, n_s(&p)) > e)
        e = dmaxdiff(p.c, c, n_s(&p));
    check(e <= 1e-12 * scale, "reference %s: forward y, h_n%s against a plain libm implementation: max diff %.2e",
          desc, c ? ", c_n" : "", e);
    free(h);
    free(c);
    free(y);
    prob_free(&p);
}

/* y == 0 past each length (exactly), and each sequence run alone (B = 1,
 * T = its length) gives the same y and final state. */
static void padding_check(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths, uint64_t s)
{
    Prob p;
    char desc[256];
    int rc, b, t, zero_ok = 1, nonzero_before = 0;
    double maxd = 0, maxy = 0;
    prob_init(&p, mode, T, B, I, H, reverse, lengths, 1, s);
    prob_desc(&p, desc, sizeof desc);
    rc = fwd64(&p, 0, p.h, p.c, p.y, p.work);
    if (rc != PYRNN_OK) {
        check(0, "padding %s: forward returned %d", desc, rc);
        prob_free(&p);
        return;
    }
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++) {
            const double *yt = p.y + ((size_t)t * B + b) * H;
            int j;
            for (j = 0; j < H; j++) {
                if (t >= lengths[b] && yt[j] != 0.0)
                    zero_ok = 0;
                if (t < lengths[b] && yt[j] != 0.0)
                    nonzero_before = 1;
            }
        }
    check(zero_ok && nonzero_before, "padding %s: y == 0 exactly at t >= lengths[b]%s", desc,
          nonzero_before ? "" : " (but y is all zero before the lengths too)");

    for (b = 0; b < B; b++) {
        int L = (int)lengths[b], j;
        double *xb = dalloc((size_t)L * I), *hb = dalloc(H), *cb = dalloc(H), *yb = dalloc((size_t)L * H);
        double *wb = dalloc(pyrnn_work_size(mode, L, 1, I, H, H, 0));
        for (t = 0; t < L; t++)
            memcpy(xb + (size_t)t * I, p.x + ((size_t)t * B + b) * I, (size_t)I * sizeof(double));
        memcpy(hb, p.h0 + (size_t)b * H, (size_t)H * sizeof(double));
        if (is_lstm(&p))
            memcpy(cb, p.c0 + (size_t)b * H, (size_t)H * sizeof(double));
        rc = pyrnn_forward_f64(mode, L, 1, I, H, H, xb, p.w_ih, p.w_hh, p.b_ih, p.b_hh, NULL, NULL, NULL, reverse, 0,
                               hb, is_lstm(&p) ? cb : NULL, yb, wb);
        if (rc != PYRNN_OK) {
            check(0, "padding %s: forward of sequence %d alone returned %d", desc, b, rc);
            maxd = INFINITY;
        } else {
            double d = dmaxdiff(hb, p.h + (size_t)b * H, (size_t)H);
            if (d > maxd || d != d)
                maxd = d;
            if (is_lstm(&p)) {
                d = dmaxdiff(cb, p.c + (size_t)b * H, (size_t)H);
                if (d > maxd || d != d)
                    maxd = d;
            }
            for (t = 0; t < L; t++) {
                d = dmaxdiff(yb + (size_t)t * H, p.y + ((size_t)t * B + b) * H, (size_t)H);
                if (d > maxd || d != d)
                    maxd = d;
                for (j = 0; j < H; j++)
                    if (fabs(yb[(size_t)t * H + j]) > maxy)
                        maxy = fabs(yb[(size_t)t * H + j]);
            }
        }
        free(xb);
        free(hb);
        free(cb);
        free(yb);
        free(wb);
    }
    check(maxd <= 1e-12 * max1(maxy), "padding %s: each sequence alone (B=1, T=length) gives the same y, h_n%s: max diff %.2e",
          desc, is_lstm(&p) ? ", c_n" : "", maxd);
    prob_free(&p);
}

/* float32 forward and backward against float64; training=1 forward y equals
 * the training=0 one; float32 y == 0 at padded steps. */
static void f32_check(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths, uint64_t s)
{
    Prob p;
    Grad64 g;
    char desc[256];
    int rc, rc32, lstm;
    size_t nx, ny, ns, nwih, nwhh, nb;
    float *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh, *h, *c, *y, *work, *bwork, *dy, *dh, *dc, *dx, *dwih, *dwhh,
        *dbih, *dbhh;
    double *h64t, *c64t, *y64t, *work64t;
    double scale, ey, eh, ec = 0, e, eg = 0;

    prob_init(&p, mode, T, B, I, H, reverse, lengths, 1, s);
    prob_desc(&p, desc, sizeof desc);
    lstm = is_lstm(&p);
    nx = n_x(&p), ny = n_y(&p), ns = n_s(&p), nwih = n_wih(&p), nwhh = n_whh(&p), nb = n_b(&p);

    /* float64 reference: inference forward, then training forward + backward */
    rc = fwd64(&p, 0, p.h, p.c, p.y, p.work);
    h64t = dalloc(ns);
    c64t = lstm ? dalloc(ns) : NULL;
    y64t = dalloc(ny);
    work64t = dalloc(pyrnn_work_size(mode, T, B, I, H, H, 1));
    if (rc == PYRNN_OK)
        rc = fwd64(&p, 1, h64t, c64t, y64t, work64t);
    if (rc != PYRNN_OK) {
        check(0, "f32 vs f64 %s: float64 forward returned %d", desc, rc);
        free(h64t), free(c64t), free(y64t), free(work64t);
        prob_free(&p);
        return;
    }
    e = dmaxdiff(y64t, p.y, ny);
    if (dmaxdiff(h64t, p.h, ns) > e)
        e = dmaxdiff(h64t, p.h, ns);
    if (lstm && dmaxdiff(c64t, p.c, ns) > e)
        e = dmaxdiff(c64t, p.c, ns);
    check(e <= 1e-12 * max1(dmaxabs(p.y, ny)), "training %s: forward with training=1 gives the training=0 y, h_n: max diff %.2e",
          desc, e);
    free(h64t), free(c64t), free(y64t), free(work64t);
    rc = grad64(&p, &g);

    x = fcopy_new(p.x, nx);
    h0 = fcopy_new(p.h0, ns);
    c0 = fcopy_new(p.c0, ns);
    w_ih = fcopy_new(p.w_ih, nwih);
    w_hh = fcopy_new(p.w_hh, nwhh);
    b_ih = fcopy_new(p.b_ih, nb);
    b_hh = fcopy_new(p.b_hh, nb);
    h = fcopy_new(p.h0, ns);
    c = fcopy_new(p.c0, ns);
    y = falloc(ny);
    ffill(y, ny, 777.0f);
    work = falloc(pyrnn_work_size(mode, T, B, I, H, H, 1));
    bwork = falloc(pyrnn_backward_work_size(mode, T, B, H, H));
    dy = fcopy_new(p.wy, ny);
    dh = fcopy_new(p.wh, ns);
    dc = fcopy_new(p.wc, ns);
    dx = falloc(nx), dwih = falloc(nwih), dwhh = falloc(nwhh), dbih = falloc(nb), dbhh = falloc(nb);
    ffill(dx, nx, 777.0f), ffill(dwih, nwih, 777.0f), ffill(dwhh, nwhh, 777.0f), ffill(dbih, nb, 777.0f),
        ffill(dbhh, nb, 777.0f);

    rc32 = pyrnn_forward_f32(mode, T, B, I, H, H, x, w_ih, w_hh, b_ih, b_hh, NULL, NULL, p.lengths, reverse, 1, h, c, y, work);
    if (rc32 != PYRNN_OK) {
        check(0, "f32 vs f64 %s: float32 forward returned %d", desc, rc32);
    } else {
        int b, t, j, zero_ok = 1;
        scale = dmaxabs(p.y, ny);
        if (scale < 1e-30)
            scale = 1;
        ey = fdmaxdiff(y, p.y, ny) / scale;
        eh = fdmaxdiff(h, p.h, ns) / max1(dmaxabs(p.h, ns));
        if (lstm)
            ec = fdmaxdiff(c, p.c, ns) / max1(dmaxabs(p.c, ns));
        e = ey > eh ? ey : eh;
        if (ec > e)
            e = ec;
        if (lstm)
            check(e <= 1e-5, "f32 vs f64 forward %s: y %.2e h_n %.2e c_n %.2e (relative, tol 1e-05)", desc, ey, eh, ec);
        else
            check(e <= 1e-5, "f32 vs f64 forward %s: y %.2e h_n %.2e (relative, tol 1e-05)", desc, ey, eh);
        if (p.lengths) {
            for (t = 0; t < T; t++)
                for (b = 0; b < B; b++)
                    for (j = 0; j < H; j++)
                        if (t >= p.lengths[b] && y[((size_t)t * B + b) * H + j] != 0.0f)
                            zero_ok = 0;
            check(zero_ok, "f32 padding %s: y == 0 exactly at t >= lengths[b]", desc);
        }
        rc32 = pyrnn_backward_f32(mode, T, B, I, H, H, x, w_ih, w_hh, NULL, NULL, p.lengths, reverse, work, dy, dh, lstm ? dc : NULL, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork);
        if (rc32 != PYRNN_OK || rc != PYRNN_OK) {
            check(0, "f32 vs f64 backward %s: backward returned %d (float32) %d (float64)", desc, rc32, rc);
        } else {
            double eg_[7];
            int i;
            eg_[0] = fdmaxdiff(dx, g.dx, nx) / max1(dmaxabs(g.dx, nx));
            eg_[1] = fdmaxdiff(dh, g.dh0, ns) / max1(dmaxabs(g.dh0, ns));
            eg_[2] = lstm ? fdmaxdiff(dc, g.dc0, ns) / max1(dmaxabs(g.dc0, ns)) : 0;
            eg_[3] = fdmaxdiff(dwih, g.dw_ih, nwih) / max1(dmaxabs(g.dw_ih, nwih));
            eg_[4] = fdmaxdiff(dwhh, g.dw_hh, nwhh) / max1(dmaxabs(g.dw_hh, nwhh));
            eg_[5] = fdmaxdiff(dbih, g.db_ih, nb) / max1(dmaxabs(g.db_ih, nb));
            eg_[6] = fdmaxdiff(dbhh, g.db_hh, nb) / max1(dmaxabs(g.db_hh, nb));
            for (i = 0; i < 7; i++)
                if (!(eg_[i] <= eg))
                    eg = eg_[i] == eg_[i] ? eg_[i] : INFINITY;
            check(eg <= 1e-4,
                  "f32 vs f64 backward %s: max rel err %.2e (tol 1e-04); dx=%.1e dh0=%.1e dc0=%.1e dw_ih=%.1e dw_hh=%.1e db_ih=%.1e db_hh=%.1e",
                  desc, eg, eg_[0], eg_[1], eg_[2], eg_[3], eg_[4], eg_[5], eg_[6]);
        }
    }
    grad64_free(&g);
    free(x), free(h0), free(c0), free(w_ih), free(w_hh), free(b_ih), free(b_hh), free(h), free(c), free(y);
    free(work), free(bwork), free(dy), free(dh), free(dc), free(dx), free(dwih), free(dwhh), free(dbih), free(dbhh);
    prob_free(&p);
}

/* results with 1 thread against 2, 3 and OpenMP's default (float64) */
typedef struct {
    double *y, *h, *c;
    Grad64 g;
    int rc;
} Result64;

static void run_all64(const Prob *p, Result64 *r)
{
    double *work = dalloc(pyrnn_work_size(p->mode, p->T, p->B, p->I, p->H, p->H, 0));
    r->y = dalloc(n_y(p));
    r->h = dalloc(n_s(p));
    r->c = is_lstm(p) ? dalloc(n_s(p)) : NULL;
    r->rc = fwd64(p, 0, r->h, r->c, r->y, work);
    free(work);
    if (r->rc == PYRNN_OK)
        r->rc = grad64(p, &r->g);
    else
        memset(&r->g, 0, sizeof r->g);
}

static void result_free(Result64 *r)
{
    free(r->y);
    free(r->h);
    free(r->c);
    grad64_free(&r->g);
}

static double rel(const double *a, const double *b, size_t n)
{
    if (!a && !b)
        return 0;
    return dmaxdiff(a, b, n) / max1(dmaxabs(b, n));
}

static void threads_check(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths, uint64_t s)
{
    Prob p;
    Result64 r1, rn;
    char desc[256];
    int nt[3] = {2, 3, 0}, k;
    prob_init(&p, mode, T, B, I, H, reverse, lengths, 1, s);
    prob_desc(&p, desc, sizeof desc);
    pyrnn_set_num_threads(1);
    run_all64(&p, &r1);
    for (k = 0; k < 3; k++) {
        double e[10], worst = 0;
        int i, got;
        pyrnn_set_num_threads(nt[k]);
        got = pyrnn_get_num_threads();
        run_all64(&p, &rn);
        if (r1.rc != PYRNN_OK || rn.rc != PYRNN_OK) {
            check(0, "threads %s: returned %d (1 thread), %d (%d threads)", desc, r1.rc, rn.rc, nt[k]);
        } else {
            e[0] = rel(rn.y, r1.y, n_y(&p));
            e[1] = rel(rn.h, r1.h, n_s(&p));
            e[2] = rel(rn.c, r1.c, n_s(&p));
            e[3] = rel(rn.g.dx, r1.g.dx, n_x(&p));
            e[4] = rel(rn.g.dh0, r1.g.dh0, n_s(&p));
            e[5] = rel(rn.g.dc0, r1.g.dc0, n_s(&p));
            e[6] = rel(rn.g.dw_ih, r1.g.dw_ih, n_wih(&p));
            e[7] = rel(rn.g.dw_hh, r1.g.dw_hh, n_whh(&p));
            e[8] = rel(rn.g.db_ih, r1.g.db_ih, n_b(&p));
            e[9] = rel(rn.g.db_hh, r1.g.db_hh, n_b(&p));
            for (i = 0; i < 10; i++)
                if (!(e[i] <= worst))
                    worst = e[i] == e[i] ? e[i] : INFINITY;
            check(worst <= 1e-12,
                  "threads %s: set_num_threads(%d) (get_num_threads=%d) vs 1: max rel diff %.2e "
                  "(y %.1e h %.1e c %.1e dx %.1e dh0 %.1e dc0 %.1e dw_ih %.1e dw_hh %.1e db_ih %.1e db_hh %.1e)",
                  desc, nt[k], got, worst, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9]);
        }
        result_free(&rn);
    }
    result_free(&r1);
    pyrnn_set_num_threads(0);
    prob_free(&p);
}

/* dx = NULL, or every weight gradient NULL, leaves the gradients still asked for as they were, bit
 * for bit (threads: 2, so that B >= 16 may run the batch split) */
static void partial_grads_check(int mode, int T, int B, int I, int H, int reverse, const int64_t *lengths,
                                uint64_t s)
{
    Prob p;
    Grad64 full, no_dx, frozen;
    char desc[256];
    int rc[3];
    prob_init(&p, mode, T, B, I, H, reverse, lengths, 1, s);
    prob_desc(&p, desc, sizeof desc);
    pyrnn_set_num_threads(2);
    rc[0] = grad64_with(&p, &full, 1, 1);
    rc[1] = grad64_with(&p, &no_dx, 0, 1);
    rc[2] = grad64_with(&p, &frozen, 1, 0);
    if (rc[0] != PYRNN_OK || rc[1] != PYRNN_OK || rc[2] != PYRNN_OK) {
        check(0, "partial gradients %s: returned %d (all), %d (dx = NULL), %d (weight gradients NULL)", desc,
              rc[0], rc[1], rc[2]);
    } else {
        const double states = dmaxdiff(full.dh0, no_dx.dh0, n_s(&p)) + dmaxdiff(full.dh0, frozen.dh0, n_s(&p)) +
                              (full.dc0 ? dmaxdiff(full.dc0, no_dx.dc0, n_s(&p)) +
                                          dmaxdiff(full.dc0, frozen.dc0, n_s(&p)) : 0.0);
        const double weights = dmaxdiff(full.dw_ih, no_dx.dw_ih, n_wih(&p)) +
                               dmaxdiff(full.dw_hh, no_dx.dw_hh, n_whh(&p)) +
                               dmaxdiff(full.db_ih, no_dx.db_ih, n_b(&p)) + dmaxdiff(full.db_hh, no_dx.db_hh, n_b(&p));
        const double dx = dmaxdiff(full.dx, frozen.dx, n_x(&p));
        check(states == 0.0 && weights == 0.0 && dx == 0.0,
              "partial gradients %s: dx = NULL gives the same dh0, dc0 and weight gradients, weight gradients "
              "NULL the same dx, dh0, dc0 (sums of max abs differences: states %.1e, weights %.1e, dx %.1e)",
              desc, states, weights, dx);
    }
    grad64_free(&full);
    grad64_free(&no_dx);
    grad64_free(&frozen);
    pyrnn_set_num_threads(0);
    prob_free(&p);
}

/* PYRNN_EINVAL for invalid arguments, float32 and float64, forward and backward */
static void einval_check(int mode)
{
    enum { T = 4, B = 3, I = 5, H = 6 };
    const int G = gates(mode), lstm = mode == PYRNN_LSTM;
    const int64_t len_ok[B] = {4, 2, 3}, len_zero[B] = {4, 0, 3}, len_big[B] = {4, 5, 3}, len_neg[B] = {4, -1, 3};
    double *x = drand_new((size_t)T * B * I), *wih = drand_new((size_t)G * H * I), *whh = drand_new((size_t)G * H * H);
    double *bih = drand_new((size_t)G * H), *bhh = drand_new((size_t)G * H);
    double *h = drand_new((size_t)B * H), *c = drand_new((size_t)B * H), *y = dalloc((size_t)T * B * H);
    double *work = dalloc(pyrnn_work_size(mode, T, B, I, H, H, 1)), *bwork = dalloc(pyrnn_backward_work_size(mode, T, B, H, H));
    double *dy = drand_new((size_t)T * B * H), *dx = dalloc((size_t)T * B * I), *dwih = dalloc((size_t)G * H * I),
           *dwhh = dalloc((size_t)G * H * H), *dbih = dalloc((size_t)G * H), *dbhh = dalloc((size_t)G * H);
    float *xf = fcopy_new(x, (size_t)T * B * I), *wihf = fcopy_new(wih, (size_t)G * H * I),
          *whhf = fcopy_new(whh, (size_t)G * H * H), *hf = fcopy_new(h, (size_t)B * H), *cf = fcopy_new(c, (size_t)B * H),
          *yf = falloc((size_t)T * B * H), *workf = falloc(pyrnn_work_size(mode, T, B, I, H, H, 1)),
          *bworkf = falloc(pyrnn_backward_work_size(mode, T, B, H, H)), *dyf = fcopy_new(dy, (size_t)T * B * H),
          *dxf = falloc((size_t)T * B * I), *dwihf = falloc((size_t)G * H * I), *dwhhf = falloc((size_t)G * H * H);
    double *cc = lstm ? c : NULL;
    float *ccf = lstm ? cf : NULL;
    int ok = 1, rc;
    char bad[512] = "";
    size_t k = 0;

#define EXPECT(label, call)                                                                   \
    do {                                                                                      \
        rc = (call);                                                                          \
        if (rc != PYRNN_EINVAL) {                                                             \
            ok = 0;                                                                           \
            k += (size_t)snprintf(bad + k, k < sizeof bad ? sizeof bad - k : 0, " %s->%d", label, rc); \
        }                                                                                     \
    } while (0)

    EXPECT("f64 mode=7", pyrnn_forward_f64(7, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 mode=-1", pyrnn_forward_f64(-1, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 T=0", pyrnn_forward_f64(mode, 0, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 B=0", pyrnn_forward_f64(mode, T, 0, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 I=0", pyrnn_forward_f64(mode, T, B, 0, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 H=0", pyrnn_forward_f64(mode, T, B, I, 0, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 x=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, NULL, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 w_ih=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, NULL, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 w_hh=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, NULL, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, work));
    EXPECT("f64 h=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, NULL, cc, y, work));
    EXPECT("f64 y=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, NULL, work));
    EXPECT("f64 work=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, cc, y, NULL));
    if (lstm)
        EXPECT("f64 c=NULL", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, NULL, 0, 0, h, NULL, y, work));
    EXPECT("f64 length=0", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, len_zero, 0, 0, h, cc, y, work));
    EXPECT("f64 length=T+1", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, len_big, 1, 0, h, cc, y, work));
    EXPECT("f64 length=-1", pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, len_neg, 0, 0, h, cc, y, work));

    EXPECT("f32 mode=7", pyrnn_forward_f32(7, T, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, NULL, NULL, 0, 0, hf, ccf, yf, workf));
    EXPECT("f32 T=0", pyrnn_forward_f32(mode, 0, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, NULL, NULL, 0, 0, hf, ccf, yf, workf));
    EXPECT("f32 x=NULL", pyrnn_forward_f32(mode, T, B, I, H, H, NULL, wihf, whhf, NULL, NULL, NULL, NULL, NULL, 0, 0, hf, ccf, yf, workf));
    EXPECT("f32 length=0", pyrnn_forward_f32(mode, T, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, NULL, len_zero, 0, 0, hf, ccf, yf, workf));
    EXPECT("f32 length=T+1", pyrnn_forward_f32(mode, T, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, NULL, len_big, 0, 0, hf, ccf, yf, workf));

    /* backward: a valid training forward first, so that only the one bad argument is wrong */
    rc = pyrnn_forward_f64(mode, T, B, I, H, H, x, wih, whh, bih, bhh, NULL, NULL, len_ok, 0, 1, h, cc, y, work);
    if (rc != PYRNN_OK) {
        ok = 0;
        k += (size_t)snprintf(bad + k, k < sizeof bad ? sizeof bad - k : 0, " [valid forward->%d]", rc);
    }
    EXPECT("bwd f64 mode=7", pyrnn_backward_f64(7, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 T=0", pyrnn_backward_f64(mode, 0, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 x=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, NULL, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 dy=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, NULL, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 dh=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, NULL, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 dw_ih=NULL, dw_hh not", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, NULL, dwhh, NULL, NULL, NULL, NULL, bwork));
    EXPECT("bwd f64 dw_ih=NULL, db_ih not", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, NULL, NULL, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 dw_hh=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, dwih, NULL, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 bwork=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, NULL));
    if (lstm)
        EXPECT("bwd f64 dc=NULL", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_ok, 0, work, dy, h, NULL, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 length=0", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_zero, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f64 length=T+1", pyrnn_backward_f64(mode, T, B, I, H, H, x, wih, whh, NULL, NULL, len_big, 0, work, dy, h, cc, dx, dwih, dwhh, dbih, dbhh, NULL, NULL, bwork));
    EXPECT("bwd f32 mode=7", pyrnn_backward_f32(7, T, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, 0, workf, dyf, hf, ccf, dxf, dwihf, dwhhf, NULL, NULL, NULL, NULL, bworkf));
    EXPECT("bwd f32 T=0", pyrnn_backward_f32(mode, 0, B, I, H, H, xf, wihf, whhf, NULL, NULL, NULL, 0, workf, dyf, hf, ccf, dxf, dwihf, dwhhf, NULL, NULL, NULL, NULL, bworkf));
    EXPECT("bwd f32 x=NULL", pyrnn_backward_f32(mode, T, B, I, H, H, NULL, wihf, whhf, NULL, NULL, NULL, 0, workf, dyf, hf, ccf, dxf, dwihf, dwhhf, NULL, NULL, NULL, NULL, bworkf));
    EXPECT("bwd f32 length=0", pyrnn_backward_f32(mode, T, B, I, H, H, xf, wihf, whhf, NULL, NULL, len_zero, 0, workf, dyf, hf, ccf, dxf, dwihf, dwhhf, NULL, NULL, NULL, NULL, bworkf));
#undef EXPECT

    check(ok, "einval %s: invalid mode / size / NULL pointer / length out of [1, T] return PYRNN_EINVAL%s%s", mode_name(mode),
          ok ? "" : "; wrong:", bad);
    free(x), free(wih), free(whh), free(bih), free(bhh), free(h), free(c), free(y), free(work), free(bwork);
    free(dy), free(dx), free(dwih), free(dwhh), free(dbih), free(dbhh);
    free(xf), free(wihf), free(whhf), free(hf), free(cf), free(yf), free(workf);
    free(bworkf), free(dyf), free(dxf), free(dwihf), free(dwhhf);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    static const int modes[4] = {PYRNN_RNN_TANH, PYRNN_RNN_RELU, PYRNN_LSTM, PYRNN_GRU};
    static const int64_t len3[3] = {4, 2, 3};
    static const int64_t len4[4] = {5, 1, 3, 2};
    static const int64_t len4b[4] = {8, 3, 5, 1};
    static const int64_t len6[6] = {5, 1, 4, 5, 2, 3};
    static const int64_t len7[7] = {9, 4, 9, 1, 7, 9, 2};
    int64_t len_big[32];
    int m, b;
    for (b = 0; b < 32; b++)
        len_big[b] = 1 + (b * 5) % 6; /* lengths 1..6 for T = 6 */

    printf("pyrnn build: %s; threads: %d; PYRNN_C_MIN_WORK=%s\n", pyrnn_build_info(), pyrnn_get_num_threads(),
           getenv("PYRNN_C_MIN_WORK") ? getenv("PYRNN_C_MIN_WORK") : "(unset)");
    for (m = 0; m < 4; m++) {
        int mode = modes[m];
        uint64_t s = 1000u * (uint64_t)(m + 1);
        /* gradient checks */
        gradcheck(mode, 4, 3, 5, 6, 0, len3, 1, s + 1);
        gradcheck(mode, 4, 3, 5, 6, 1, len3, 1, s + 2);
        gradcheck(mode, 4, 3, 5, 6, 0, NULL, 1, s + 3);
        gradcheck(mode, 4, 3, 5, 6, 1, NULL, 1, s + 4);
        gradcheck(mode, 4, 3, 5, 6, 0, len3, 0, s + 5);
        gradcheck(mode, 4, 3, 5, 6, 1, NULL, 0, s + 6);
        gradcheck(mode, 4, 3, 5, 33, 0, len3, 1, s + 7);
        gradcheck(mode, 4, 3, 5, 33, 1, len3, 1, s + 8);
        gradcheck(mode, 5, 4, 3, 7, 1, len4, 1, s + 9);
        /* T >= 8: W_hh packed into register-tile blocks (batch 1; 6-row tiles + a leftover row) */
        gradcheck(mode, 9, 1, 5, 40, 0, NULL, 1, s + 30);
        gradcheck(mode, 9, 7, 3, 40, 1, len7, 1, s + 31);
        reference_check(mode, 9, 7, 4, 70, 0, len7, 1, s + 32);
        /* forward against a plain implementation */
        reference_check(mode, 4, 3, 5, 6, 0, len3, 1, s + 20);
        reference_check(mode, 4, 3, 5, 6, 1, len3, 1, s + 21);
        reference_check(mode, 5, 4, 7, 33, 1, NULL, 1, s + 22);
        reference_check(mode, 5, 4, 7, 33, 0, len4, 0, s + 23);
        /* padding semantics */
        padding_check(mode, 4, 3, 5, 6, 0, len3, s + 10);
        padding_check(mode, 4, 3, 5, 6, 1, len3, s + 11);
        padding_check(mode, 5, 4, 5, 33, 0, len4, s + 12);
        padding_check(mode, 5, 4, 5, 33, 1, len4, s + 13);
        /* float32 against float64 */
        f32_check(mode, 8, 4, 16, 40, 0, len4b, s + 14);
        f32_check(mode, 8, 4, 16, 40, 1, len4b, s + 15);
        f32_check(mode, 8, 4, 16, 40, 1, NULL, s + 16);
        /* no input gradient, no weight gradients: the unit split, then the batch split (B = 16) */
        partial_grads_check(mode, 9, 7, 3, 40, 1, len7, s + 33);
        partial_grads_check(mode, 9, 16, 5, 64, 0, NULL, s + 34);
        /* invalid arguments */
        einval_check(mode);
        /* threads: 1 against 2, 3, default */
        threads_check(mode, 5, 6, 9, 33, 0, len6, s + 17);
        threads_check(mode, 6, 32, 48, 161, 1, len_big, s + 18);
        threads_check(mode, 4, 32, 64, 515, 0, NULL, s + 19);
    }
    printf("max gradient-check relative error: RNN_TANH %.2e, RNN_RELU %.2e, LSTM %.2e, GRU %.2e\n", g_worst_grad[0],
           g_worst_grad[1], g_worst_grad[2], g_worst_grad[3]);
    printf("%d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}
