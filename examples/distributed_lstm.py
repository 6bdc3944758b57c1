"""Data-parallel training of a pyrnn.torch LSTM with torch.distributed (DistributedDataParallel, gloo).

Each process holds a full copy of the model and trains on its share of every
batch; DDP averages the gradients across processes after each backward, so
all replicas take the same optimizer step. pyrnn's kernels run inside each
process (on its CPU cores), torch.distributed moves the gradients.

    # N processes on this machine (spawned here, rendezvous on loopback):
    python examples/distributed_lstm.py --nprocs 2 --steps 100 --out ddp-run

    # the same through torchrun (it sets RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT):
    torchrun --standalone --nproc_per_node 2 examples/distributed_lstm.py --steps 100 --out ddp-run

    # several machines: run on every node, node_rank 0..nnodes-1, master = node 0's address:
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 --master_addr 10.0.0.1 --master_port 29500 \\
        examples/distributed_lstm.py --steps 200 --out ddp-run

    # --nprocs 1: the same training in one process on the whole batch, without torch.distributed
    python examples/distributed_lstm.py --nprocs 1 --steps 100 --out single-run

Every process writes its final parameters and losses to OUT/rank{R}.pt.
The task: predict the sum of a random sequence's inputs from the LSTM's last output.
"""
import argparse
import datetime
import os
import socket
import sys

import torch

try:
    import pyrnn.torch as prt
except ImportError:     # run from a source checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import pyrnn.torch as prt


class SumRegressor(torch.nn.Module):
    """x (B, T, I) -> predicted sum of x over time and features, (B, 1)."""

    def __init__(self, input_size, hidden_size, backend, dtype):
        super().__init__()
        self.rnn = prt.LSTM(input_size, hidden_size, num_layers=2, batch_first=True, backend=backend,
                            dtype=dtype)
        self.head = torch.nn.Linear(hidden_size, 1, dtype=dtype)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def global_batch(step, args, dtype):
    """The step's whole batch, the same on every process (each then takes its own rows)."""
    gen = torch.Generator().manual_seed(args.seed * 100_003 + step)
    x = torch.randn(args.batch, args.seq_len, args.input_size, generator=gen, dtype=dtype)
    return x, x.sum(dim=(1, 2)).unsqueeze(1) / args.seq_len


def train(rank, world, args):
    """Train on rows rank::world of every global batch; save parameters and losses from this rank."""
    dtype = getattr(torch, args.dtype)
    distributed = world > 1
    if distributed:
        # A bounded wait: if a peer dies, the others fail within minutes instead of hanging
        # in a collective for gloo's default 30.
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world,
                                             timeout=datetime.timedelta(seconds=args.timeout))
    torch.manual_seed(args.seed)            # the same initial model everywhere (DDP also broadcasts rank 0's)
    model = SumRegressor(args.input_size, args.hidden, args.backend, dtype)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    losses = []
    for step in range(args.steps):
        x, target = global_batch(step, args, dtype)
        mine = slice(rank, None, world)     # equal shares, so DDP's gradient average = the full-batch mean
        loss = torch.nn.functional.mse_loss(model(x[mine]), target[mine])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    module = model.module if distributed else model
    os.makedirs(args.out, exist_ok=True)
    torch.save({"rank": rank, "world": world, "losses": losses, "initial_state_dict": initial,
                "state_dict": {k: v.detach().clone() for k, v in module.state_dict().items()}},
               os.path.join(args.out, f"rank{rank}.pt"))
    if rank == 0:
        print(f"world {world}: loss {losses[0]:.4f} -> {losses[-1]:.4f} after {args.steps} steps "
              f"(pyrnn backend {module.rnn.backend}); parameters in {args.out}/rank*.pt")
    if distributed:
        # Wait until every collective of training has finished before tearing the group down: a
        # collective launched from backward carries a copy of torch's thread-local state that holds a
        # Python object, and gloo's worker thread needs the GIL to drop it. If that last drop falls
        # into destroy_process_group (which holds the GIL while it stops the workers), the process
        # hangs after its work is saved (seen with torch 2.13 in about 1 run in 15). The barrier's
        # own state holds no Python object.
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _spawned(rank, world, args):
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(rank), str(world)
    train(rank, world, args)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nprocs", type=int, default=2,
                   help="processes to spawn on this machine (ignored under torchrun); 1 = no torch.distributed")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=16, help="global batch, split evenly over the processes")
    p.add_argument("--seq-len", type=int, default=12)
    p.add_argument("--input-size", type=int, default=4)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--backend", default="auto", help="pyrnn backend (see `pyrnn info`)")
    p.add_argument("--out", default="ddp-run", help="folder for rank*.pt (created)")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds a process waits for its peers in a collective before failing")
    args = p.parse_args(argv)
    if args.nprocs < 1:
        p.error(f"--nprocs must be >= 1, got {args.nprocs}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ:     # launched by torchrun
        world = int(os.environ["WORLD_SIZE"])
        rank = int(os.environ["RANK"])
        if args.batch % world:
            sys.exit(f"--batch {args.batch} must be divisible by the number of processes ({world})")
        train(rank, world, args)
        return
    if args.batch % args.nprocs:
        sys.exit(f"--batch {args.batch} must be divisible by --nprocs {args.nprocs}")
    if args.nprocs == 1:
        train(0, 1, args)
        return
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    # Loopback: no network needed (the interface is "lo" on Linux, "lo0" on macOS).
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
    # One thread per process for the kernels and torch: the processes share this machine's cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.multiprocessing.spawn(_spawned, args=(args.nprocs, args), nprocs=args.nprocs, join=True)


if __name__ == "__main__":
    main()
