"""pyrnn.torch under DistributedDataParallel (gloo, 2 processes on loopback) vs one process on the full batch."""
import os
import signal
import subprocess
import sys

import pytest

from shared import ROOT

torch = pytest.importorskip("torch")
pytest.importorskip("pyrnn.torch")
if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
    pytest.skip("this torch build has no torch.distributed with gloo", allow_module_level=True)

SCRIPT = os.path.join(ROOT, "examples", "distributed_lstm.py")
# Set by torchrun / torch.distributed launchers: inherited, they would make the script join a
# process group that this test did not start.
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                      "MASTER_PORT")


def run_training(out, nprocs, backend="auto"):
    cmd = [sys.executable, SCRIPT, "--nprocs", str(nprocs), "--steps", "8", "--dtype", "float64",
           "--backend", backend, "--out", str(out), "--timeout", "60"]
    env = {k: v for k, v in os.environ.items()
           if k not in LAUNCHER_VARIABLES and not k.startswith("TORCHELASTIC_")}
    # The pyrnn under test (this checkout) first, whatever else is installed.
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # A session of its own, so a hung rank is killed with the launcher.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in 180 s:\n{stdout}\n{stderr}")
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{stdout}\n{stderr}"
    return [torch.load(out / f"rank{r}.pt") for r in range(nprocs)]


def test_two_ddp_ranks_match_each_other_and_a_single_process_run(tmp_path):
    """On the default backend (the per-backend parity of the modules is test_torch_modules.py's)."""
    rank0, rank1 = run_training(tmp_path / "ddp", 2)
    (single,) = run_training(tmp_path / "single", 1)
    assert (rank0["world"], rank1["world"], single["world"]) == (2, 2, 1)
    # It trained: every parameter moved away from its initial value.
    for name, value in single["state_dict"].items():
        assert (value - single["initial_state_dict"][name]).abs().max() > 1e-4, name
    for name, value in single["state_dict"].items():
        # DDP all-reduces the gradients: both replicas take bit-identical steps...
        assert torch.equal(rank0["state_dict"][name], rank1["state_dict"][name]), name
        # ...equal to the single process's steps on the whole batch (float64 parity).
        torch.testing.assert_close(rank0["state_dict"][name], value, rtol=1e-10, atol=1e-10, msg=name)
    # Each rank's loss is the mean over its half: their average is the full-batch loss.
    for step, (a, b, full) in enumerate(zip(rank0["losses"], rank1["losses"], single["losses"])):
        assert abs((a + b) / 2 - full) <= 1e-10 * max(1.0, abs(full)), step
