"""Optimizers (SGD with momentum, Adagrad, RMSProp, Adam) and gradient clipping.

An optimizer works on a model (or module), or on ``(name, param, grad)``
triples (see :func:`collect_parameters`), and updates each ``param`` array in place from its
``grad`` array, with torch.optim's update rules and defaults. Its state
(moments, step count) round-trips through ``state_dict`` / ``load_state_dict``
as plain arrays, so checkpoints need no pickle.
"""
import numpy as np

from .._checks import to_numpy
from ..errors import InputError, StateDictError


def collect_parameters(source):
    """-> [(name, param, grad), ...], the live arrays, in a fixed order.

    ``source``: a model or a module (anything with ``named_parameters()`` and ``grads``),
    a ``{prefix: module}`` dict (names ``"{prefix}.{name}"``), or such triples already.
    """
    if hasattr(source, "named_parameters") and hasattr(source, "grads"):
        grads = source.grads
        return [(name, param, grads[name]) for name, param in source.named_parameters()]
    if isinstance(source, dict):
        return [(f"{prefix}.{name}", param, grad) for prefix, module in source.items()
                for name, param, grad in collect_parameters(module)]
    triples = list(source)
    if not all(isinstance(t, tuple) and len(t) == 3 for t in triples):
        raise InputError("params must be a model, a module, or (name, param, grad) triples")
    return triples


def _positive(value, name, allow_zero=False):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)


class Optimizer:
    """Base: keeps the triples, per-parameter state buffers and the step count."""

    _buffers = ()          # names of the per-parameter state arrays
    _nonnegative = ()      # those of them that hold sums of squares (never < 0 in a real run)

    def __init__(self, params, lr):
        self.params = collect_parameters(params)
        if not self.params:
            raise InputError("params must hold at least one (name, param, grad) triple")
        self.lr = _positive(lr, "lr")
        self.step_count = 0
        self.state = {name: {b: np.zeros_like(p) for b in self._buffers} for name, p, _ in self.params}

    def zero_grad(self):
        for _, _, g in self.params:
            g.fill(0)

    def step(self):
        self.step_count += 1
        for name, p, g in self.params:
            self._update(p, g, self.state[name])

    def _update(self, p, g, state):
        raise NotImplementedError

    def state_dict(self):
        """Flat name -> array: ``{param}/{buffer}`` for each buffer, and ``step``."""
        out = {"step": np.array(self.step_count, dtype=np.int64)}
        for name, buffers in self.state.items():
            for b, arr in buffers.items():
                out[f"{name}/{b}"] = arr.copy()
        return out

    def load_state_dict(self, state):
        expected = set(self.state_dict())
        if set(state) != expected:
            raise StateDictError(f"optimizer state does not fit {type(self).__name__}: missing "
                                 f"{sorted(expected - set(state))}, unknown {sorted(set(state) - expected)}")
        for name, buffers in self.state.items():
            for b, arr in buffers.items():
                value = to_numpy(state[f"{name}/{b}"], f"state[{name + '/' + b!r}]")
                if value.shape != arr.shape:
                    raise StateDictError(f"optimizer state {name}/{b} must have shape {arr.shape}, got {value.shape}")
                arr[...] = value
        self.step_count = int(state["step"])


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + g (Nesterov: p -= lr * (g + momentum * v))."""

    _buffers = ("momentum_buffer",)

    def __init__(self, params, lr=1e-2, momentum=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum = _positive(momentum, "momentum", allow_zero=True)
        self.nesterov = bool(nesterov)

    def _update(self, p, g, state):
        if self.momentum == 0:
            p -= self.lr * g
            return
        v = state["momentum_buffer"]
        if self.step_count == 1:
            v[...] = g                    # torch starts the buffer at the first gradient
        else:
            v *= self.momentum
            v += g
        p -= self.lr * (g + self.momentum * v if self.nesterov else v)


class Adagrad(Optimizer):
    """sum += g^2; p -= lr * g / (sqrt(sum) + eps)."""

    _buffers = ("sum",)
    _nonnegative = ("sum",)

    def __init__(self, params, lr=1e-2, eps=1e-10):
        super().__init__(params, lr)
        self.eps = _positive(eps, "eps")

    def _update(self, p, g, state):
        state["sum"] += g * g
        p -= self.lr * g / (np.sqrt(state["sum"]) + self.eps)


class RMSProp(Optimizer):
    """sq = alpha * sq + (1 - alpha) * g^2; p -= lr * g / (sqrt(sq) + eps)."""

    _buffers = ("square_avg",)
    _nonnegative = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(params, lr)
        self.alpha = _positive(alpha, "alpha")
        self.eps = _positive(eps, "eps")

    def _update(self, p, g, state):
        sq = state["square_avg"]
        sq *= self.alpha
        sq += (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(sq) + self.eps)


class Adam(Optimizer):
    """Adam with bias correction, torch.optim.Adam's formula."""

    _buffers = ("exp_avg", "exp_avg_sq")
    _nonnegative = ("exp_avg_sq",)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2 = (_positive(b, "betas") for b in betas)
        self.eps = _positive(eps, "eps")

    def _update(self, p, g, state):
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        correction1 = 1 - self.beta1 ** self.step_count
        correction2 = 1 - self.beta2 ** self.step_count
        denom = np.sqrt(v) / np.sqrt(correction2) + self.eps
        p -= (self.lr / correction1) * m / denom


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam}


def clip_grad_norm(params, max_norm):
    """Scale every grad in place so that their global L2 norm is at most max_norm; returns the norm before.

    torch.nn.utils.clip_grad_norm_'s rule: scale = max_norm / (norm + 1e-6) when below 1.
    """
    max_norm = _positive(max_norm, "max_norm")
    params = collect_parameters(params)
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for _, _, g in params)))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for _, _, g in params:
            g *= scale
    return total


def clip_grad_value(params, clip_value):
    """Clamp every grad element to [-clip_value, clip_value] in place."""
    clip_value = _positive(clip_value, "clip_value")
    params = collect_parameters(params)
    for _, _, g in params:
        np.clip(g, -clip_value, clip_value, out=g)
