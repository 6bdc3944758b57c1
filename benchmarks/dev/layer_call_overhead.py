"""Per-call time of the layer API (backend c) at small shapes, where the layer stack's Python overhead shows.

    python benchmarks/dev/layer_call_overhead.py LABEL   (run it alternately on two trees to compare them)
"""
import sys
import time

import numpy as np

import pyrnn

def median_us(fn, n=400, reps=5):
    fn()
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best.append((time.perf_counter() - t0) / n * 1e6)
    return float(np.median(best))

rng = np.random.default_rng(0)
out = []
for cls in (pyrnn.LSTM, pyrnn.GRU, pyrnn.RNN):
    for layers, bidir, T, H in ((1, False, 50, 128), (2, True, 5, 16)):
        m = cls(H, H, num_layers=layers, bidirectional=bidir, backend="c", seed=0)
        x = rng.standard_normal((T, 1, H)).astype(np.float32)
        m.eval()
        fwd = median_us(lambda: m.forward(x))
        m.train()
        y = m.forward(x)[0]
        dy = np.ones_like(y)
        def step():
            m.forward(x)
            m.backward(dy)
        both = median_us(step)
        out.append(f"{cls.__name__}-L{layers}{'bi' if bidir else ''}-T{T}-H{H} fwd {fwd:.1f} us, fwd+bwd {both:.1f} us")
print(sys.argv[1], "; ".join(out))
