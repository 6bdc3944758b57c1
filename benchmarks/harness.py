"""Building and timing one layer in pyrnn and in torch.nn, for the benchmark scripts."""
import platform
import statistics
import subprocess
import time

import numpy as np

import pyrnn

LAYER = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU, "rnn_tanh": pyrnn.RNN, "rnn_relu": pyrnn.RNN}


def cpu_model():
    """The CPU's model name as lscpu prints it (the CPU under the project changes between machines)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        return platform.processor() or "unknown CPU"


def make_pyrnn(mode, I, H, backend, dtype=np.float32, seed=0):
    kwargs = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    return LAYER[mode](I, H, backend=backend, dtype=dtype, seed=seed, **kwargs)


def pyrnn_step(layer, x, dy, backward):
    """One timed unit: forward (eval mode) or forward + backward (train mode)."""
    layer.train(backward)
    if backward:
        def run():
            layer(x)
            layer.backward(dy)
    else:
        def run():
            layer(x)
    return run


def torch_step(mode, I, H, x, dy, backward, state_dict=None, drop_in=False, input_grad=True):
    """torch.nn's layer (or, with drop_in, pyrnn.torch's subclass of it) timed the same way;
    input_grad=False: x needs no gradient (a first layer reading data, not an embedding)."""
    import torch
    nn = torch.nn
    if drop_in:
        import pyrnn.torch as nn
    cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(mode, nn.RNN)
    kwargs = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    module = cls(I, H, **kwargs)
    if state_dict is not None:
        module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()})
    xt = torch.from_numpy(x)
    dyt = torch.from_numpy(dy)
    if backward:
        module.train()
        xg = xt.clone().requires_grad_(input_grad)

        def run():
            y, _ = module(xg)
            y.backward(dyt)
    else:
        module.eval()

        def run():
            with torch.no_grad():
                module(xt)
    run.module = module   # the caller may read its weights (same initial weights for the peer)
    return run


def time_interleaved(runs, rounds=5, block_time=0.3, settle=0.3):
    """Median seconds per call of each callable, measured in alternating blocks.

    Each round gives every contender one block: a pause (``settle`` s) so the
    previous contender's idle BLAS/OpenMP threads stop spinning (OpenBLAS
    workers busy-wait ~0.1 s after a call, GNU OpenMP's a little less, and on
    2 cores a spinning thread halves the next contender's speed), one untimed
    warm-up call, then timed calls for at least ``block_time`` s. Rounds
    alternate contenders so that drift of the shared machine hits all alike.
    """
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(settle)
            run()
            block_start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - t0)
                if t0 - block_start >= block_time:
                    break
    return {name: statistics.median(s) for name, s in samples.items()}


def measure_gemm_peak(sizes=(512, 1024, 2048), seconds=0.5):
    """Best float32 GEMM throughput (FLOP/s) of np.matmul on square matrices: the ceiling."""
    best = 0.0
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        a @ b
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            a @ b
            count += 1
        best = max(best, 2 * n ** 3 * count / (time.perf_counter() - t0))
    return best
