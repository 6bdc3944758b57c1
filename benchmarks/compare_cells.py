"""The new cells against what a torch user has today: IndRNN and the LSTM with projections.

    python benchmarks/compare_cells.py [--cells indrnn lstmp] [--configs large medium small]
                                       [--backends c numba] [--rounds 5]

IndRNN (h_t = f(W_ih x_t + b_ih + u * h_{t-1})) as a torch user writes it: the
input projection of all T*B rows as one matmul, then a Python loop over time
of ``h = tanh(xw[t] + u * h)`` on torch tensors (autograd for the backward),
against pyrnn's layer (pyrnn.IndRNN, same weights) on each backend.
LSTMP (proj_size = H / 4): torch.nn.LSTM(proj_size=P) against the drop-in
pyrnn.torch.LSTM(proj_size=P, backend=...) with the same weights.
LayerNormLSTM: the same math as a torch loop (F.layer_norm on W_ih x for all
rows, then per step on W_hh h and on c; autograd for the backward) against
pyrnn.LayerNormLSTM on each backend that runs it.
One process, alternating blocks (harness.time_interleaved), median per call.
Each pyrnn contender is first checked against its torch peer (forward outputs,
and in fwd+bwd every gradient) and is timed only if it matches (float32, 1e-4).
Ratios < 1 mean pyrnn is faster.
"""
import argparse
import datetime
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from configs import CONFIGS  # noqa: E402
from harness import cpu_model, pyrnn_step, time_interleaved  # noqa: E402

import pyrnn  # noqa: E402
import pyrnn.backends  # noqa: E402

TOL = 1e-4


def torch_loop(state_dict, x, dy, backward):
    """The torch user's IndRNN: one projection matmul, a loop over time; returns (run, grads())."""
    import torch
    p = {k: torch.tensor(v, requires_grad=backward) for k, v in state_dict.items()}
    xt = torch.tensor(x, requires_grad=backward)
    dyt = torch.tensor(dy)

    def forward():
        T, B, I = xt.shape
        xw = (xt.reshape(T * B, I) @ p["weight_ih_l0"].T + p["bias_ih_l0"]).reshape(T, B, -1)
        h = xt.new_zeros(B, xw.shape[-1])
        ys = []
        for t in range(T):
            h = torch.tanh(xw[t] + p["weight_hh_l0"] * h)
            ys.append(h)
        return torch.stack(ys)

    return _autograd_runs(forward, p, xt, dyt, backward, suffix="")


def _scaled_error(got, want):
    """max |got - want| relative to the array's scale (weight gradients sum over T*B rows), as the tests."""
    return float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max()))


def check(layer, x, dy, backward, reference_forward, reference_grads):
    """Largest scaled error of pyrnn's outputs (and every gradient) against the torch loop."""
    import torch
    layer.train(backward)
    layer.zero_grad()
    y, _ = layer(x)
    with torch.no_grad():
        err = _scaled_error(y, reference_forward().numpy())
    if backward:
        dx, _ = layer.backward(dy)
        ref = reference_grads()
        err = max(err, _scaled_error(dx, ref["x"]), *(_scaled_error(layer.grads[k], ref[k]) for k in layer.grads))
    return err


def torch_layernorm_loop(state_dict, x, dy, backward):
    """The torch user's layer-normalised LSTM (pyrnn.LayerNormLSTM's math): returns (run, forward, grads())."""
    import torch
    import torch.nn.functional as F
    p = {k[:-len("_l0")]: torch.tensor(v, requires_grad=backward) for k, v in state_dict.items()}
    xt, dyt = torch.tensor(x, requires_grad=backward), torch.tensor(dy)

    def forward():
        T, B, I = xt.shape
        G = p["weight_ih"].shape[0]
        H = G // 4
        ln = lambda v, name: F.layer_norm(v, (v.shape[-1],), p[f"ln_{name}_weight"], p[f"ln_{name}_bias"], 1e-5)  # noqa: E731
        xw = ln((xt.reshape(T * B, I) @ p["weight_ih"].T).reshape(T, B, G), "ih") + p["bias_ih"] + p["bias_hh"]
        h = c = xt.new_zeros(B, H)
        ys = []
        for t in range(T):
            i, f, g, o = (xw[t] + ln(h @ p["weight_hh"].T, "hh")).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(ln(c, "c"))
            ys.append(h)
        return torch.stack(ys)

    return _autograd_runs(forward, p, xt, dyt, backward)


def _autograd_runs(forward, params, xt, dyt, backward, suffix="_l0"):
    """(run, forward, grads) of a torch loop: run is one timed call (with autograd when backward)."""
    import torch
    if backward:
        def run():
            for v in (*params.values(), xt):
                v.grad = None
            forward().backward(dyt)

        def grads():
            return {"x": xt.grad.numpy(), **{f"{k}{suffix}": v.grad.numpy() for k, v in params.items()}}
    else:
        def run():
            with torch.no_grad():
                forward()

        def grads():
            return None
    return run, forward, grads


def compare_layernorm(args):
    """LayerNormLSTM: pyrnn.LayerNormLSTM per backend that runs it vs the same math as a torch loop.

    Over 100 steps this recurrence amplifies float32 rounding: the float32 torch loop itself ends
    ~1e-3 from the float64 result at the large config, so a float32-vs-float32 1e-4 check would
    test rounding noise. The gate is therefore run in float64: a contender is timed (in float32)
    only if the same backend in float64 matches the float64 torch loop to 1e-10 (outputs and every
    gradient, scaled by each array's magnitude); the float32 errors of torch and of each contender
    against the float64 result are printed beside the times.
    """
    backends = [b for b in args.backends if "layernorm_lstm" in pyrnn.backends.get_backend(b).cells]
    print("\nLayerNormLSTM vs the same math as a plain torch loop (float32 timed; errors: float32 against the "
          "float64 loop; gate: float64 to 1e-10)\n")
    if not backends:
        print(f"(none of {args.backends} runs the layernorm_lstm cell)")
        return
    print_header("torch loop", backends, extra="torch float32 error")
    for cfg in args.configs:
        T, B, I, H = CONFIGS[cfg]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        dy = rng.standard_normal((T, B, H), dtype=np.float32)
        x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
        for backward in (False, True):
            layers = {b: pyrnn.LayerNormLSTM(I, H, backend=b, seed=0) for b in backends}
            state = next(iter(layers.values())).state_dict()
            run, forward, grads = torch_layernorm_loop(state, x, dy, backward)
            run64, forward64, grads64 = torch_layernorm_loop({k: v.astype(np.float64) for k, v in state.items()},
                                                             x64, dy64, backward)
            run()
            run64()
            torch_error = _loop_error(forward, grads, forward64, grads64, backward)
            errors = {b: check(layer, x, dy, backward, forward64, grads64) for b, layer in layers.items()}
            gate = {b: check(_float64_copy(layer), x64, dy64, backward, forward64, grads64)
                    for b, layer in layers.items()}
            runs = {"torch": run}
            runs.update({b: pyrnn_step(layer, x, dy, backward) for b, layer in layers.items() if gate[b] <= 1e-10})
            for b in backends:
                if gate[b] > 1e-10:
                    errors[b] = gate[b]     # printed as the failed float64 gate
            print_row(cfg, T, B, H, backward, backends, time_interleaved(runs, rounds=args.rounds), errors,
                      torch_error=torch_error)


def _float64_copy(layer):
    """The same LayerNormLSTM in float64, with the float32 layer's parameters (the values the loops get)."""
    copy = pyrnn.LayerNormLSTM(layer.input_size, layer.hidden_size, backend=layer.backend, dtype=np.float64)
    copy.load_state_dict(layer.state_dict())
    return copy


def _loop_error(forward, grads, forward64, grads64, backward):
    """The float32 torch loop's own scaled error against the float64 one (outputs, and every gradient)."""
    import torch
    with torch.no_grad():
        err = _scaled_error(forward().numpy(), forward64().numpy())
    if backward:
        got, want = grads(), grads64()
        err = max(err, *(_scaled_error(got[k], want[k]) for k in want))
    return err


def lstmp_module(module_cls, I, H, P, state_dict, backend=None):
    """torch.nn.LSTM or pyrnn.torch.LSTM with projections, loaded with ``state_dict`` (torch tensors)."""
    module = module_cls(I, H, proj_size=P, **({} if backend is None else {"backend": backend}))
    if state_dict is not None:
        module.load_state_dict(state_dict)
    return module


def module_run(module, x, dy, backward):
    """(run, results): one timed call of a torch module, and its outputs (+ every gradient) as NumPy."""
    import torch
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
    xg = xt.clone().requires_grad_(True)
    module.train(backward)

    def run():
        if backward:
            xg.grad = None
            module.zero_grad()
            y, _ = module(xg)
            y.backward(dyt)
        else:
            with torch.no_grad():
                module(xt)

    def results():
        if not backward:
            with torch.no_grad():
                return {"y": module(xt)[0].numpy()}
        run()
        return {"y": module(xg)[0].detach().numpy(), "x": xg.grad.numpy(),
                **{k: v.grad.numpy() for k, v in module.named_parameters()}}
    return run, results


def compare_lstmp(args):
    """torch.nn.LSTM(proj_size=H/4) vs pyrnn.torch.LSTM(proj_size=H/4) per backend."""
    import torch
    import torch.nn

    import pyrnn.torch as prt
    print("\nLSTM with projections, proj_size P = H / 4: torch.nn.LSTM vs pyrnn.torch.LSTM (same weights)\n")
    print_header("torch.nn", args.backends)
    for cfg in args.configs:
        T, B, I, H = CONFIGS[cfg]
        P = H // 4
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        dy = rng.standard_normal((T, B, P), dtype=np.float32)
        torch.manual_seed(0)
        reference = lstmp_module(torch.nn.LSTM, I, H, P, None)
        state = reference.state_dict()
        for backward in (False, True):
            runs, errors = {}, {}
            runs["torch"], want = module_run(reference, x, dy, backward)
            want = want()
            for b in args.backends:
                run, got = module_run(lstmp_module(prt.LSTM, I, H, P, state, b), x, dy, backward)
                got = got()
                errors[b] = max(_scaled_error(got[k], want[k]) for k in want)
                if errors[b] <= TOL:
                    runs[b] = run
            print_row(cfg, T, B, H, backward, args.backends, time_interleaved(runs, rounds=args.rounds), errors,
                      extra=f" P={P}")


def print_header(peer, backends, extra=None):
    """The Markdown header of a table: config, pass, the torch peer's time (and ``extra``), per backend 3 columns."""
    columns = ["config", "pass", f"{peer} ms"] + ([extra] if extra else [])
    columns += [c for b in backends for c in (f"{b} ms", f"{b}/torch", f"{b} max error")]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def print_row(cfg, T, B, H, backward, backends, times, errors, extra="", torch_error=None):
    cells = [] if torch_error is None else [f"{torch_error:.1e}"]
    for b in backends:
        if b in times:
            cells.append(f"{times[b] * 1e3:.2f} | {times[b] / times['torch']:.2f} | {errors[b]:.1e}")
        else:
            cells.append(f"not timed | - | {errors[b]:.1e} (fails the check)")
    print(f"| {cfg} T={T} B={B} H={H}{extra} | {'fwd+bwd' if backward else 'fwd'} | "
          f"{times['torch'] * 1e3:.2f} | " + " | ".join(cells) + " |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["indrnn", "lstmp", "layernorm"],
                        choices=["indrnn", "lstmp", "layernorm"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+",
                        default=[b for b in pyrnn.available_backends() if b in ("c", "numba")])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    # torch.nn.LSTM with proj_size runs torch's own (non-oneDNN) kernels and says so at every call
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads), float32, one layer, I = H")
    if "indrnn" in args.cells:
        compare_indrnn(args)
    if "lstmp" in args.cells:
        compare_lstmp(args)
    if "layernorm" in args.cells:
        compare_layernorm(args)
    return 0


def compare_indrnn(args):
    """IndRNN (tanh): pyrnn.IndRNN per backend vs the plain torch loop."""
    print("\nIndRNN (tanh) vs a plain torch loop\n")
    print_header("torch loop", args.backends)
    for cfg in args.configs:
        T, B, I, H = CONFIGS[cfg]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((T, B, I), dtype=np.float32)
        dy = rng.standard_normal((T, B, H), dtype=np.float32)
        for backward in (False, True):
            layers = {b: pyrnn.IndRNN(I, H, backend=b, seed=0) for b in args.backends}
            sd = next(iter(layers.values())).state_dict()
            run, forward, grads = torch_loop(sd, x, dy, backward)
            run()                                   # fills the torch gradients the check reads
            errors = {b: check(layer, x, dy, backward, forward, grads) for b, layer in layers.items()}
            runs = {"torch": run}
            runs.update({b: pyrnn_step(layer, x, dy, backward) for b, layer in layers.items()
                         if errors[b] <= TOL})
            print_row(cfg, T, B, H, backward, args.backends, time_interleaved(runs, rounds=args.rounds), errors)


if __name__ == "__main__":
    sys.exit(main())
