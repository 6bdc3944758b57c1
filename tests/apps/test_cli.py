"""The command line: `python -m pyrnn demo|info`, and one-line errors."""
import subprocess
import sys

import pyrnn


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], capture_output=True, text=True,
                          timeout=300)


def test_demo_prints_shapes_and_passes_its_gradient_check():
    result = run_cli("demo", "--seed", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "y (4, 20, 32), h_n (4, 4, 16), c_n (4, 4, 16)" in out
    assert "dx (4, 20, 8)" in out
    for cell in ("RNN ", "LSTM", "GRU "):
        line = next(line for line in out.splitlines() if line.strip().startswith(cell))
        assert line.endswith(" ok"), line
        error = float(line.split("max relative error ")[1].split()[0])
        assert error < 1e-6


def test_info_lists_every_backend_with_its_status():
    result = run_cli("info")
    assert result.returncode == 0
    assert f"pyrnn {pyrnn.__version__}" in result.stdout
    for name in pyrnn.backend_status():
        assert name in result.stdout


def test_info_says_which_cells_each_available_backend_runs():
    from pyrnn.backends import backend_cells, get_backend
    result = run_cli("info")
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    for name in pyrnn.available_backends():
        assert f"cells: {' '.join(get_backend(name).cells)}" in lines[name]
        assert backend_cells()[name] == tuple(get_backend(name).cells)


def test_bad_backend_is_a_one_line_error_without_traceback():
    result = run_cli("demo", "--backend", "nosuch")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "unknown backend 'nosuch'" in result.stderr and "'numpy'" in result.stderr


def test_no_command_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2 and "usage" in result.stderr.lower()


def test_negative_seed_is_a_usage_error():
    result = run_cli("demo", "--seed", "-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--seed: must be an integer >= 0, got -1" in result.stderr
