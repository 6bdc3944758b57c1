"""pyrnn's C backend vs low-precision inference peers: one-layer LSTM/GRU forward, ONE process.

    python benchmarks/compare_peers.py [--configs large medium small] [--cells lstm gru]
                                       [--contenders torch-bf16 ort-fp32 openvino pyrnn-fp32 pyrnn-bf16]
                                       [--rounds 7] [--repeats N] [--threads 2] [--markdown] [--out FILE]

What it measures: the time of one inference call (eval mode, no gradients) of
a one-layer LSTM or GRU over the whole sequence, x of shape (T, B, I), for
torch.nn in float32 (the baseline) and bfloat16, onnxruntime (the torch module
exported to ONNX, CPUExecutionProvider, float32), OpenVINO (converted from the
same ONNX file, run at its default inference precision: bf16 by itself on
CPUs with bf16 units) and pyrnn's "c" backend in float32 and bfloat16. Every
contender has the same weights (torch's seeded initialisation), the same input
(standard normal, seed 0; the two bf16 modules, torch's and pyrnn's, get it rounded to
bf16 once, outside the timing) and the same thread budget (--threads).

Per config x cell and contender it prints the median ms per call, the ratio to
torch fp32 in the same run (< 1 = faster) and the max abs error of the output
y against torch fp32's y (float32 peers ~1e-6, bfloat16 ones ~1e-3..1e-2).
Beside each time: the fraction of the machine's peak the contender reaches,
its products' FLOPs (2 T B G H (I + H), G = 4 for the LSTM, 3 for the GRU) per
second over --threads cores' peak rate of the unit it can use, measured in this
process just before the config's rounds (pyrnn's peak_gflops): float32
contenders against 512-bit float FMAs, bfloat16 ones against AMX tiles where
the CPU has them, else against VDPBF16PS. These shared machines change speed
from minute to minute, hence measured per config.
Timing: every contender is warmed up, then timed in --rounds interleaved rounds
(each round runs every contender for --repeats calls, after a pause that lets
the previous contender's idle threads stop spinning) and the median of the
rounds' per-call times is taken. A contender whose package is missing or that
fails is skipped with a one-line reason.
"""
import argparse
import copy
import datetime
import os
import statistics
import sys
import tempfile
import time
import warnings

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import CONFIGS  # noqa: E402
from harness import cpu_model  # noqa: E402

import pyrnn  # noqa: E402

BASELINE = "torch fp32"
# CLI name -> label printed in the results; the baseline is always run (ratios and errors need it).
CONTENDERS = {"torch-fp32": BASELINE, "torch-bf16": "torch bf16", "ort-fp32": "onnxruntime fp32",
              "openvino": "OpenVINO", "pyrnn-fp32": "pyrnn c fp32", "pyrnn-bf16": "pyrnn c bf16"}
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
ROUND_SECONDS = 0.2   # auto --repeats: one round of calls over all contenders takes about this long
# Same pause as harness.time_interleaved: idle OpenMP/OpenBLAS/onnxruntime/TBB workers spin for
# ~0.1 s after a call, and on 2 cores a spinning thread halves the next contender's speed.
SETTLE = 0.3


class Skip(Exception):
    """A contender that cannot run here (the message is the one-line reason)."""


class Case:
    """One config x cell: the torch baseline module, the input and (on demand) its ONNX export."""

    def __init__(self, cell, T, B, I, H, threads, tmpdir):
        import torch
        self.cell, self.I, self.H, self.threads, self.tmpdir = cell, I, H, threads, tmpdir
        torch.manual_seed(0)
        self.module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H).eval()
        self.x = np.random.default_rng(0).standard_normal((T, B, I), dtype=np.float32)
        self._onnx_path = None

    def onnx_path(self):
        """The module exported once for onnxruntime and OpenVINO to share."""
        if self._onnx_path is None:
            import torch
            path = os.path.join(self.tmpdir, f"{self.cell}_{self.I}.onnx")
            outputs = ["y", "h_n", "c_n"] if self.cell == "lstm" else ["y", "h_n"]
            # The legacy (TorchScript) exporter: it maps nn.LSTM/GRU onto ONNX's own LSTM/GRU ops,
            # which the peers run as fused kernels, and it needs no onnxscript (the torch.export
            # based default does). Its warnings (deprecation, fixed batch size) do not apply here:
            # the graph is run with exactly the shapes it was exported with.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(self.module, (torch.from_numpy(self.x),), path, opset_version=17,
                                  input_names=["x"], output_names=outputs, dynamo=False)
            self._onnx_path = path
        return self._onnx_path


# -- contenders: each builds a run() that does one forward call and returns its y ----------------
def torch_fp32(case):
    import torch
    xt = torch.from_numpy(case.x)

    def run():
        with torch.no_grad():
            return case.module(xt)[0]
    return run


def torch_bf16(case):
    import torch
    module = copy.deepcopy(case.module).to(torch.bfloat16)
    xt = torch.from_numpy(case.x).to(torch.bfloat16)

    def run():
        with torch.no_grad():
            return module(xt)[0]
    return run


def ort_fp32(case):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = case.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(case.onnx_path(), opts, providers=["CPUExecutionProvider"])
    feed = {"x": case.x}

    def run():
        return session.run(["y"], feed)[0]
    return run


def openvino_default(case):
    import openvino as ov
    compiled = ov.Core().compile_model(ov.convert_model(case.onnx_path()), "CPU",
                                       {"INFERENCE_NUM_THREADS": case.threads})
    request = compiled.create_infer_request()

    def run():
        # share_inputs: no copy of x per call, as the other contenders read it in place.
        request.infer([case.x], share_inputs=True)
        return request.get_output_tensor(0).data
    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    run.note = f"{precision.get_type_name()}, {compiled.get_property('INFERENCE_NUM_THREADS')} threads"
    return run


def pyrnn_c(dtype):
    def build(case):
        from pyrnn.backends import get_backend
        get_backend("c").set_num_threads(case.threads)
        layer = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU}[case.cell](case.I, case.H, backend="c", dtype=dtype)
        layer.load_state_dict({k: v.detach().numpy() for k, v in case.module.state_dict().items()})
        layer.eval()
        # The bf16 layer gets its input in bf16, converted once outside the timing, as torch's bf16
        # module does (a float32 x would be rounded inside every call: ~3 ms of the large rows).
        x = case.x.astype(ml_dtypes.bfloat16) if dtype == "bfloat16" else case.x

        def run():
            return layer(x)[0]
        return run
    return build


BUILDERS = {BASELINE: torch_fp32, "torch bf16": torch_bf16, "onnxruntime fp32": ort_fp32,
            "OpenVINO": openvino_default, "pyrnn c fp32": pyrnn_c(np.float32),
            "pyrnn c bf16": pyrnn_c("bfloat16")}


def as_float32(y):
    """A contender's y (torch tensor, numpy float32 or ml_dtypes.bfloat16 array) as float32 numpy."""
    if hasattr(y, "detach"):
        y = y.detach().float().numpy()
    return np.asarray(y).astype(np.float32)


def one_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def build_all(case, labels, emit):
    """label -> run for the contenders that build and run once; the others print why they are skipped."""
    runs = {}
    for label in labels:
        try:
            run = BUILDERS[label](case)
            run()   # the first call: fails here rather than in the timing rounds
            runs[label] = run
        except Exception as exc:    # a peer's missing package or failure skips that peer only
            emit(f"  {label}: skipped ({one_line(exc)})")
    return runs


def time_rounds(runs, rounds, repeats=None, warmup=2):
    """Median seconds per call of each run, over interleaved rounds of `repeats` calls each.

    The scheme of harness.time_interleaved (pause, one untimed call, a timed
    block, contenders alternating so drift hits all alike) with a fixed
    number of calls per block, so that --repeats can pin it; each round gives
    one figure per contender (the block's mean), and the median of the rounds
    is robust to a round disturbed by the shared machine.
    """
    single = {}
    for name, run in runs.items():
        for _ in range(warmup):
            run()
        t0 = time.perf_counter()
        run()
        single[name] = time.perf_counter() - t0
    if repeats is None:
        repeats = max(1, round(ROUND_SECONDS / sum(single.values())))
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(SETTLE)
            run()
            t0 = time.perf_counter()
            for _ in range(repeats):
                run()
            samples[name].append((time.perf_counter() - t0) / repeats)
    return {name: statistics.median(s) for name, s in samples.items()}, repeats


def gate_count(cell):
    return {"lstm": 4, "gru": 3}[cell]


def measure_peaks():
    """GFLOP/s of one core for float32 and for bfloat16 products (0.0 where it cannot be measured)."""
    try:
        from pyrnn.backends import get_backend
        c = get_backend("c")
        amx = c.peak_gflops("amx")
        return {"fp32": c.peak_gflops("fp32-fma"), "bf16": amx or c.peak_gflops("avx512-bf16"),
                "bf16 unit": "AMX" if amx else "VDPBF16PS"}
    except Exception:  # no c backend: the table goes without fractions of peak
        return {"fp32": 0.0, "bf16": 0.0, "bf16 unit": "none"}


def peak_fraction(label, note, flops, seconds, peaks, threads):
    """flops / seconds over the threads' peak of the unit for the contender's precision (OpenVINO's is in its note)."""
    peak = peaks["bf16" if "bf16" in label or "bf16" in note else "fp32"] * threads
    return flops / seconds / 1e9 / peak if peak > 0 else float("nan")


def header(threads):
    import torch
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    versions = [f"torch {torch.__version__}"]
    for package in ("onnxruntime", "openvino"):
        try:
            # openvino's __version__ carries its build hash after the release: keep the release.
            versions.append(f"{package} {__import__(package).__version__.split('-')[0]}")
        except Exception:  # a missing or broken peer is reported again, per case, as skipped
            versions.append(f"{package} missing")
    flag_text = " ".join(f"{name}{'+' if name in flags else '-'}" for name in CPU_FLAGS)
    return (f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
            f"{os.cpu_count()} CPUs, flags {flag_text}; {', '.join(versions)}, pyrnn {pyrnn.__version__}; "
            f"{threads} threads each; forward, eval, one layer")


def markdown(rows, labels):
    head = "| config | cell | " + " | ".join(f"{label} ms (ratio) peak err" for label in labels) + " |"
    lines = ["", head, "|" + "---|" * (len(labels) + 2)]
    for cfg, cell, results in rows:
        T, B, _, H = CONFIGS[cfg]
        cells = [results.get(label, "skipped") for label in labels]
        lines.append(f"| {cfg} T={T} B={B} I=H={H} | {cell} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS),
                        help="torch-fp32 always runs: it is the baseline of ratios and errors")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--repeats", type=int, default=None,
                        help="calls per contender per round (default: a round takes ~0.2 s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--out", default=None, help="also write everything printed to this file")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    labels = [BASELINE] + [CONTENDERS[c] for c in args.contenders if CONTENDERS[c] != BASELINE]
    printed = []

    def emit(line):
        print(line, flush=True)
        printed.append(line)

    emit(header(args.threads))
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare_peers_") as tmpdir:
        for cfg in args.configs:
            T, B, I, H = CONFIGS[cfg]
            for cell in args.cells:
                emit(f"{cfg} T={T} B={B} I=H={H} {cell}:")
                case = Case(cell, T, B, I, H, args.threads, tmpdir)
                runs = build_all(case, labels, emit)
                if BASELINE not in runs:
                    continue
                peaks = measure_peaks()
                emit(f"  peak per core: fp32 FMA {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16 unit']} "
                     f"{peaks['bf16']:.0f} GFLOP/s")
                flops = 2.0 * T * B * gate_count(cell) * H * (I + H)
                times, repeats = time_rounds(runs, args.rounds, args.repeats)
                reference = as_float32(runs[BASELINE]())
                results = {}
                for label, run in runs.items():
                    err = float(np.max(np.abs(as_float32(run()) - reference)))
                    ratio = times[label] / times[BASELINE]
                    note = f" [{run.note}]" if hasattr(run, "note") else ""
                    peak = peak_fraction(label, note, flops, times[label], peaks, args.threads)
                    emit(f"  {label:17s} {times[label] * 1e3:9.3f} ms  ratio {ratio:5.2f}  "
                         f"peak {peak:6.1%}  err {err:.1e}{note}")
                    results[label] = f"{times[label] * 1e3:.3f} ({ratio:.2f}) {peak:.1%} {err:.1e}{note}"
                emit(f"  ({args.rounds} rounds x {repeats} calls)")
                rows.append((cfg, cell, results))
    if args.markdown:
        for line in markdown(rows, labels):
            emit(line)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(printed) + "\n")


if __name__ == "__main__":
    main()
