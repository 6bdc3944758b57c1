"""Small-batch recurrent product variants inside Numba (llm.c-style dev file).

    python benchmarks/dev/matvec_variants.py

Versions: axpy_form (out += a[m, k] * W^T[k, :], blocked along N),
dot_form (out[m, n] = <a[m], W[n]>, vectorized reduction with fastmath
reassoc), blas (np.dot -> SciPy's OpenBLAS). Run on the project machine
(2026-11-24), BLAS won at every size; the backend uses it
(pyrnn/backends/numba/kernels/__init__.py states the decision).
"""
import numpy as np, time
from numba import njit

@njit(error_model="numpy", fastmath={"contract"})
def axpy_form(a, wt, out):
    # out (M,N) = a (M,K) @ wt (K,N)
    M, K = a.shape; N = wt.shape[1]
    o = out.ravel(); wf = wt.ravel(); af = a.ravel()
    NB = 512
    for n0 in range(0, N, NB):
        nb = min(NB, N - n0)
        for m in range(M):
            for n in range(nb):
                o[m * N + n0 + n] = 0
        for k in range(K):
            wb = k * N + n0
            for m in range(M):
                s = af[m * K + k]
                ob = m * N + n0
                for n in range(nb):
                    o[ob + n] += s * wf[wb + n]

@njit(error_model="numpy", fastmath={"contract", "reassoc"})
def dot_form(a, w, out):
    # out (M,N) = a (M,K) @ w(N,K)^T
    M, K = a.shape; N = w.shape[0]
    wf = w.ravel(); af = a.ravel(); o = out.ravel()
    for n in range(N):
        wb = n * K
        for m in range(M):
            ab = m * K
            s = af[ab] * 0
            for k in range(K):
                s += af[ab + k] * wf[wb + k]
            o[m * N + n] = s

@njit
def blas(a, wt, out):
    out[:, :] = np.dot(a, wt)

def t(f, *args, n=500):
    f(*args)
    t0=time.perf_counter()
    for _ in range(n): f(*args)
    return (time.perf_counter()-t0)/n*1e6

for H in [128, 256, 512]:
    for M in [1, 4, 8]:
        G = 4*H
        a = np.random.rand(M,H).astype(np.float32); w = np.random.rand(G,H).astype(np.float32)
        wt = np.ascontiguousarray(w.T); out = np.empty((M,G),np.float32); ref = a@wt
        r = []
        for f, W in [(axpy_form, wt), (dot_form, w), (blas, wt)]:
            us = t(f, a, W, out); assert np.allclose(out, ref, rtol=1e-4), f.__name__
            r.append(us)
        print(f"H={H} M={M}: axpy {r[0]:.2f} us  dot {r[1]:.2f} us  blas {r[2]:.2f} us   (W {G*H*4/1024:.0f} KB)")
