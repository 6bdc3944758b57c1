"""The one base of every application model (the language model of ``pyrnn train`` and pyrnn.models).

A model is plain composition: it owns layers, cells and :mod:`pyrnn.train`
modules under fixed names and chains their forward/backward by hand. This base
gives it the module-level API over all of them at once, with the names and
conventions of a :class:`pyrnn.Module` (and torch.nn.Module): ``train``/``eval``,
``zero_grad``, ``named_parameters()``, ``parameters()``, ``grads``, and
``state_dict``/``load_state_dict`` with keys ``"{module}.{parameter}"``.
Optimizers and the clipping functions take a model itself.
"""
import numpy as np

from ..errors import StateDictError


class Model:
    """Base of the models: subclasses build their modules, then call ``_register(modules)``."""

    def _register(self, modules):
        """``modules``: {prefix: module} in state_dict order."""
        self.modules = dict(modules)
        self.training = True

    def __repr__(self):
        inner = ", ".join(f"{k}={m!r}" for k, m in self.modules.items())
        return f"{type(self).__name__}({inner})"

    # -- modes ---------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode for every module (forward keeps what backward needs). Returns self."""
        self.training = bool(mode)
        for m in self.modules.values():
            m.train(mode)
        return self

    def eval(self):
        """Inference mode for every module (no tapes, backward raises). Returns self."""
        return self.train(False)

    # -- parameters ----------------------------------------------------------------
    def named_parameters(self):
        """``("{module}.{parameter}", array)`` pairs; the arrays are live (an optimizer updates them in place)."""
        return [(f"{prefix}.{name}", p) for prefix, m in self.modules.items() for name, p in m.named_parameters()]

    def parameters(self):
        """The live parameter arrays, in named_parameters() order."""
        return [p for _, p in self.named_parameters()]

    @property
    def grads(self):
        """``"{module}.{parameter}"`` -> the live gradient array that backward accumulates into."""
        return {f"{prefix}.{name}": g for prefix, m in self.modules.items() for name, g in m.grads.items()}

    def zero_grad(self):
        for m in self.modules.values():
            m.zero_grad()

    def num_parameters(self):
        return int(sum(p.size for p in self.parameters()))

    # -- state -----------------------------------------------------------------------
    def state_dict(self):
        """``"{module}.{parameter}"`` -> copy of the array, for every module."""
        return {f"{prefix}.{k}": v for prefix, m in self.modules.items() for k, v in m.state_dict().items()}

    def load_state_dict(self, state):
        """Copy parameters in; keys must be exactly those of :meth:`state_dict`.

        Every module checks its part (names, shapes) before anything changes,
        so a dict of the wrong model raises StateDictError and leaves the model as it was.
        """
        expected = set(self.state_dict())
        missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unknown:
            raise StateDictError(f"state_dict does not fit {type(self).__name__}: missing keys {missing}, "
                                 f"unknown keys {unknown}")
        parts = {}
        for prefix, m in self.modules.items():
            head = prefix + "."
            parts[prefix] = {k[len(head):]: np.asarray(v) for k, v in state.items() if k.startswith(head)}
            params = dict(m.named_parameters())
            for name, value in parts[prefix].items():       # validate every module before loading any
                current = params[name]
                if value.shape != current.shape:
                    raise StateDictError(f"state_dict[{head + name!r}] must have shape {current.shape}, "
                                         f"got {value.shape}")
        for prefix, m in self.modules.items():
            if parts[prefix]:
                m.load_state_dict(parts[prefix])
