"""Whole torch training programs with torch.nn's recurrent module and with pyrnn.torch's, in ONE process.

    python benchmarks/real_programs.py [--programs word_lm char_lm gru_classifier] [--steps 20]
                                       [--rounds 3] [--threads 2] [--markdown]

Three programs as users write them (synthetic data, no download):
  word_lm         torch's word_language_model: Embedding(33278, 200) -> dropout -> LSTM(200, 200, 2 layers,
                  dropout 0.2), hidden state carried and detached -> dropout -> Linear(200, 33278) ->
                  log_softmax/NLL; batch 20, bptt 35, SGD lr 20, clip 0.25
  char_lm         Embedding(100, 64) -> LSTM(64, 256, 2 layers) -> Linear(256, 100); batch 32, T 100, Adam
  gru_classifier  Embedding(5000, 128) -> GRU(128, 256) over pack_padded_sequence (unsorted lengths 20..100,
                  batch 32) -> Linear(256, 5) on h_n; Adam
For each program the two variants (same initial weights: pyrnn.torch's modules
take torch.nn state_dicts) run in alternating blocks of `--steps` training
steps with a pause between them, and the median seconds per step is taken:
for the whole step, and for the recurrent module alone (its forward and
backward on the program's shapes, in a loop of its own: inside the step the
two cannot be separated without synchronising torch's autograd).
Ratios < 1 mean pyrnn.torch is faster. Absolute times on shared machines are noise.
"""
import argparse
import datetime
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

import pyrnn
import pyrnn.torch as prt
from pyrnn.backends import get_backend

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import cpu_model  # noqa: E402


# -- the programs: build(rnn_class) -> (model, one_step(), recurrent_step()) ---------------------------------
def word_lm(rnn_class, gen):
    V, E, H, B, T = 33278, 200, 200, 20, 35
    model = nn.ModuleDict(dict(encoder=nn.Embedding(V, E), rnn=rnn_class(E, H, 2, dropout=0.2),
                               decoder=nn.Linear(H, V)))
    drop = nn.Dropout(0.2)
    data = torch.randint(0, V, (T * 8 + 1, B), generator=gen)
    state = {"i": 0, "hidden": (torch.zeros(2, B, H), torch.zeros(2, B, H))}

    def step():
        i = state["i"] % 8
        state["i"] += 1
        x, y = data[i * T:(i + 1) * T], data[i * T + 1:(i + 1) * T + 1]
        hidden = tuple(h.detach() for h in state["hidden"])
        model.zero_grad()
        out, state["hidden"] = model["rnn"](drop(model["encoder"](x)), hidden)
        loss = nn.functional.nll_loss(torch.log_softmax(model["decoder"](drop(out)), -1).view(-1, V), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-20)

    return model, step, _recurrent_step(model["rnn"], torch.randn(T, B, E), (torch.zeros(2, B, H),) * 2)


def char_lm(rnn_class, gen):
    V, E, H, B, T = 100, 64, 256, 32, 100
    model = nn.ModuleDict(dict(embed=nn.Embedding(V, E), rnn=rnn_class(E, H, 2, batch_first=True),
                               head=nn.Linear(H, V)))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = torch.randint(0, V, (B, T + 1), generator=gen)

    def step():
        opt.zero_grad()
        out, _ = model["rnn"](model["embed"](data[:, :-1]))
        loss = nn.functional.cross_entropy(model["head"](out).reshape(-1, V), data[:, 1:].reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return model, step, _recurrent_step(model["rnn"], torch.randn(B, T, E), None)


def gru_classifier(rnn_class, gen):
    V, E, H, B, T, C = 5000, 128, 256, 32, 100, 5
    model = nn.ModuleDict(dict(embed=nn.Embedding(V, E), rnn=rnn_class(E, H, batch_first=True),
                               head=nn.Linear(H, C)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randint(0, V, (B, T), generator=gen)
    lengths = torch.randint(20, T + 1, (B,), generator=gen)
    labels = torch.randint(0, C, (B,), generator=gen)

    def step():
        opt.zero_grad()
        packed = pack_padded_sequence(model["embed"](x), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = model["rnn"](packed)
        loss = nn.functional.cross_entropy(model["head"](h_n[-1]), labels)
        loss.backward()
        opt.step()

    emb = torch.randn(B, T, E)

    def recurrent():
        packed = pack_padded_sequence(emb.requires_grad_(True), lengths, batch_first=True, enforce_sorted=False)
        _, h_n = model["rnn"](packed)
        h_n.sum().backward()

    return model, step, recurrent


def _recurrent_step(rnn, x, hx):
    x = x.clone().requires_grad_(True)

    def run():
        out, _ = rnn(x, hx) if hx is not None else rnn(x)
        out.sum().backward()
    return run


PROGRAMS = {"word_lm": word_lm, "char_lm": char_lm, "gru_classifier": gru_classifier}
PAIRS = {"word_lm": (nn.LSTM, prt.LSTM), "char_lm": (nn.LSTM, prt.LSTM), "gru_classifier": (nn.GRU, prt.GRU)}


def _timed_blocks(runs, steps, rounds, settle=0.3):
    """Median seconds per call of each callable, `steps` calls per block, blocks alternating."""
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            time.sleep(settle)            # idle OpenMP/BLAS threads of the other contender stop spinning
            run()                         # warm-up
            for _ in range(steps):
                t0 = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", nargs="+", default=list(PROGRAMS), choices=list(PROGRAMS))
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({args.threads} threads), pyrnn {pyrnn.__version__} "
          f"(backend {get_backend('auto').name}), float32", flush=True)
    rows = []
    for name in args.programs:
        torch_cls, ours_cls = PAIRS[name]
        built = {}
        for label, cls in (("torch.nn", torch_cls), ("pyrnn.torch", ours_cls)):
            torch.manual_seed(0)            # same initial weights for both (same RNG draws)
            built[label] = PROGRAMS[name](cls, torch.Generator().manual_seed(1))
        whole = _timed_blocks({k: v[1] for k, v in built.items()}, args.steps, args.rounds)
        recurrent = _timed_blocks({k: v[2] for k, v in built.items()}, args.steps, args.rounds)
        rows.append((name, whole, recurrent))
        print(f"{name:15s} step: torch.nn {whole['torch.nn'] * 1e3:8.2f} ms, pyrnn.torch "
              f"{whole['pyrnn.torch'] * 1e3:8.2f} ms, ratio {whole['pyrnn.torch'] / whole['torch.nn']:.2f}; "
              f"recurrent part: {recurrent['torch.nn'] * 1e3:7.2f} vs {recurrent['pyrnn.torch'] * 1e3:7.2f} ms, "
              f"ratio {recurrent['pyrnn.torch'] / recurrent['torch.nn']:.2f}", flush=True)
    if args.markdown:
        print("\n| program | step torch.nn ms | step pyrnn.torch ms | ratio (target <= 0.95) | recurrent torch.nn ms "
              "| recurrent pyrnn.torch ms | ratio (target <= 0.8) |\n|---|---|---|---|---|---|---|")
        for name, whole, rec in rows:
            print(f"| {name} | {whole['torch.nn'] * 1e3:.1f} | {whole['pyrnn.torch'] * 1e3:.1f} | "
                  f"{whole['pyrnn.torch'] / whole['torch.nn']:.2f} | {rec['torch.nn'] * 1e3:.1f} | "
                  f"{rec['pyrnn.torch'] * 1e3:.1f} | {rec['pyrnn.torch'] / rec['torch.nn']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
