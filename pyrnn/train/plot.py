"""The loss-curve picture of a run (matplotlib, no display needed)."""
import os

from .checkpoint import atomic_write


def plot_history(history, path, title="", unit="bits/char"):
    """Training loss (per logged step) and validation loss (per evaluation) against the step, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if history["train"]:
        steps, losses = zip(*history["train"])
        ax.plot(steps, losses, lw=1, alpha=0.8, label="train")
    if history["val"]:
        steps, losses = zip(*history["val"])
        ax.plot(steps, losses, "o-", ms=3, label=f"validation (final {losses[-1]:.3f})")
    ax.set_xlabel("step")
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return os.path.abspath(path)
