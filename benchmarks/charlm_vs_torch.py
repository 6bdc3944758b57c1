"""The main job side by side: pyrnn's language model vs the same model in torch.nn, same time budget.

    python benchmarks/charlm_vs_torch.py --minutes 10 --out benchmarks/results/charlm

Both train the default configuration of `pyrnn train` (embedding 64, 2x256 LSTM,
batch 32, seq 100, Adam 2e-3, clip 5 by global norm) on the same default
corpus (the standard library's sources), the same vocabulary, the same
contiguous batches, the same initial parameters (unless --torch-init) and
the same held-out 5%, one after the other in this process (torch with 2 threads). Each run evaluates the first --val-tokens of
the held-out data every --eval-every steps and the whole held-out set at the
end. Prints both final validation losses (bits/char) and training
throughputs (chars/s), and writes curves.png and results.json to --out.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

from pyrnn.train import Adam, ContiguousBatches, TrainConfig, Trainer
from pyrnn.train.checkpoint import atomic_write

LN2 = math.log(2)


def run_pyrnn(config, out, minutes):
    trainer = Trainer(config, out)
    trainer.initial_parameters = trainer.model.state_dict()    # copies, before any step
    os.makedirs(out, exist_ok=True)
    trainer.run()
    return trainer, dict(history=trainer.history, tokens=trainer.tokens_seen, seconds=trainer.elapsed,
                         steps=trainer.step, final_val=trainer.history["val"][-1][1])


def run_torch(trainer, config, minutes, same_init=True):
    """The same model, data and schedule with torch.nn modules and torch.optim.Adam.

    same_init: start from pyrnn's initial parameters (the same numbers; the state_dict
    names are torch's), so that the two runs differ only in the library: kernels,
    rounding and speed. Otherwise torch draws its own (same distributions, other numbers).
    """
    import torch
    torch.manual_seed(config.seed)
    torch.set_num_threads(2)
    V = len(trainer.vocab)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, config.embed)
            self.rnn = torch.nn.LSTM(config.embed, config.hidden, config.layers)
            self.head = torch.nn.Linear(config.hidden, V)

        def forward(self, ids, state=None):
            y, state = self.rnn(self.embedding(ids), state)
            return self.head(y), state

    model = Model()
    if same_init:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in trainer.initial_parameters.items()})
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = trainer.batches

    def validate(max_tokens=None):
        ids = trainer.val_ids[:max_tokens] if max_tokens else trainer.val_ids
        vb = ContiguousBatches(ids, min(config.batch, max(1, (len(ids) - 1) // 2)), config.seq_len)
        total, count, state = 0.0, 0, None
        model.eval()
        with torch.no_grad():
            for i in range(vb.chunks_per_epoch):
                x, y = vb.chunk(i)
                logits, state = model(torch.from_numpy(x.astype(np.int64)), state)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1))
                total += float(loss) * y.size
                count += y.size
        model.train()
        return total / count / LN2

    history = {"train": [], "val": []}
    state, step, tokens, elapsed, chunk = None, 0, 0, 0.0, 0
    while elapsed < 60 * minutes:
        t0 = time.perf_counter()
        x, y = batches.chunk(chunk)
        if batches.starts_epoch(chunk):
            state = None
        logits, state = model(torch.from_numpy(x.astype(np.int64)), state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y.astype(np.int64)).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        step, chunk, tokens = step + 1, chunk + 1, tokens + y.size
        elapsed += time.perf_counter() - t0
        if step % 10 == 0 or step == 1:
            history["train"].append([step, loss.item() / LN2])
        if config.eval_every and step % config.eval_every == 0:
            history["val"].append([step, validate(config.val_tokens)])
    history["val"].append([step, validate()])
    return dict(history=history, tokens=tokens, seconds=elapsed, steps=step, final_val=history["val"][-1][1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", default="benchmarks/results/charlm")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--val-tokens", type=int, default=100_000)
    parser.add_argument("--run-dir", default=None, help="where pyrnn's checkpoint goes (default: a temp folder)")
    parser.add_argument("--torch-init", action="store_true",
                        help="let torch draw its own initial parameters (default: start from pyrnn's)")
    args = parser.parse_args(argv)
    config = TrainConfig(minutes=args.minutes, eval_every=args.eval_every, val_tokens=args.val_tokens)
    os.makedirs(args.out, exist_ok=True)
    import tempfile
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="pyrnn-charlm-")
    trainer, ours = run_pyrnn(config, run_dir, args.minutes)
    print(f"pyrnn : {ours['steps']} steps, {ours['tokens'] / ours['seconds']:,.0f} chars/s, "
          f"final validation {ours['final_val']:.3f} bits/char", flush=True)
    theirs = run_torch(trainer, config, args.minutes, same_init=not args.torch_init)
    print(f"torch : {theirs['steps']} steps, {theirs['tokens'] / theirs['seconds']:,.0f} chars/s, "
          f"final validation {theirs['final_val']:.3f} bits/char", flush=True)
    results = {"date": time.strftime("%Y-%m-%d"), "minutes": args.minutes, "config": vars(config) | {},
               "same_init": not args.torch_init,
               "pyrnn": ours, "torch": theirs, "backend": trainer.model.rnn.backend}
    atomic_write(os.path.join(args.out, "results.json"), lambda f: f.write(json.dumps(results, indent=1, default=str).encode()))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, res in (("pyrnn", ours), ("torch", theirs)):
        rate = res["tokens"] / res["seconds"] / (config.batch * config.seq_len)       # steps per second
        steps, vals = zip(*res["history"]["val"])
        ax.plot(np.array(steps) / rate / 60, vals, "o-", ms=3, label=f"{name} validation (final {vals[-1]:.3f})")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("bits/char")
    ax.set_title(f"2x{config.hidden} LSTM char model, {args.minutes:g} min on 2 cores")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(os.path.join(args.out, "curves.png"), lambda f: fig.savefig(f, format="png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
