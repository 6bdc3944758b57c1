"""What layers and cells share: parameters, gradients, state dicts, train/eval, backend."""
import threading
import weakref
from collections.abc import Mapping

import numpy as np

from ._checks import check_dtype, check_seed, is_floating, to_numpy
from .backends import get_backend
from .errors import StateDictError


class Module:
    """Base of every pyrnn layer and cell.

    Parameters live in an ordered dict of NumPy arrays named exactly as in
    torch.nn; ``grads`` holds one accumulating gradient array per parameter.
    Optimizers update the arrays from :meth:`named_parameters` in place.
    """

    def __init__(self, backend, dtype, seed, uses_backend=True, cell=None):
        self.dtype = check_dtype(dtype)
        # Modules without recurrent kernels (Embedding, Linear) have no backend; a recurrent
        # one names its cell, so that "auto" takes the best backend that runs it.
        self._backend = get_backend(backend, cell, self.dtype.name) if uses_backend else None
        self._rng = np.random.default_rng(check_seed(seed))
        self._params = {}
        self.grads = {}
        self.training = True
        # Bumped whenever parameters are replaced through the API (load_state_dict,
        # attribute assignment); a pending backward that saw another version refuses
        # to run, as torch refuses a graph whose inputs were modified in place.
        self._param_version = 0

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- pickling / copying: the backend object holds compiled code, so only its name travels
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_backend"] = None if self._backend is None else self._backend.name
        # Pending tapes are keyed by thread ids of this process: a copy starts with none.
        state.pop("_tapes", None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["_backend"] = None if state["_backend"] is None else get_backend(state["_backend"])
        self.__dict__.update(state)

    # -- parameters ----------------------------------------------------------------
    def _init_cell_params(self, spec, input_size, suffix="", proj_size=None):
        """Create one layer-direction's parameters of cell ``spec`` (each drawn by its own init
        rule, in weights order, in float64 then cast: one seed gives the same weights in float32
        and float64). Returns their names in weights order (None for absent biases)."""
        self._add_params(spec.initial(self._rng, input_size, self.hidden_size, suffix, self.bias, proj_size))
        return spec.names(suffix, self.bias)

    def _add_params(self, values):
        """Register parameters (cast to the module dtype) and their zeroed gradients."""
        for name, value in values.items():
            self._params[name] = np.asarray(value, dtype=self.dtype)
        self.zero_grad()

    def __getattr__(self, name):
        # torch.nn style attribute access: layer.weight_ih_l0, cell.bias_hh, ...
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        # layer.weight_hh_l0 = array copies into the parameter (validated), instead of
        # silently shadowing it with an attribute the kernels never read.
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            self.load_state_dict({name: value}, strict=False)
        else:
            object.__setattr__(self, name, value)

    @property
    def backend(self):
        """Name of the backend this module runs on (resolved when "auto" was asked), or None."""
        return None if self._backend is None else self._backend.name

    def named_parameters(self):
        """(name, array) pairs in torch.nn order; the arrays are live (update in place)."""
        return list(self._params.items())

    def parameters(self):
        """The live parameter arrays in torch.nn order."""
        return list(self._params.values())

    def state_dict(self):
        """name -> copy of the parameter, names and shapes exactly torch.nn's."""
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy parameters in from a mapping of name -> array-like.

        strict=True (torch's default): every key must be present and no
        unknown key may appear. strict=False loads the keys that match and
        ignores the rest. Shapes must match; values are cast to the module's
        dtype and copied into the existing arrays (references stay valid).
        Nothing is changed unless the whole dict is valid. Returns
        ``(missing_keys, unexpected_keys)`` like torch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of parameter name -> array, "
                            f"got {type(state_dict).__name__}")
        missing = [k for k in self._params if k not in state_dict]
        unknown = [k for k in state_dict if k not in self._params]
        if strict and (missing or unknown):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unknown:
                parts.append(f"unknown keys {unknown}")
            raise StateDictError(f"state_dict does not fit {self!r}: {'; '.join(parts)}; "
                                 f"expected exactly {list(self._params)}")
        new = {}
        for name, current in self._params.items():
            if name not in state_dict:
                continue
            value = to_numpy(state_dict[name], f"state_dict[{name!r}]")
            if value.shape != current.shape:
                raise StateDictError(f"state_dict[{name!r}] must have shape {current.shape}, "
                                     f"got {value.shape}")
            if value.dtype.kind not in "iu" and not is_floating(value.dtype):
                raise TypeError(f"state_dict[{name!r}] must be numeric, got dtype {value.dtype}")
            new[name] = value
        for name, value in new.items():
            self._params[name][...] = value
        if new:
            self._param_version += 1
        return missing, unknown

    # -- gradients and modes -------------------------------------------------------
    def zero_grad(self):
        """Set every accumulated gradient to zero."""
        for name, p in self._params.items():
            g = self.grads.get(name)
            if g is None:
                self.grads[name] = np.zeros_like(p)
            else:
                g.fill(0)

    def _accumulate_grads(self, names, dweights):
        # Under a lock: two threads training one module add into the same arrays, and
        # NumPy's in-place add releases the GIL on large arrays.
        with _GRAD_LOCK:
            for name, g in zip(names, dweights):
                if name is not None:
                    self.grads[name] += g

    def train(self, mode=True):
        """Training mode: forward keeps what backward needs. Returns self."""
        self.training = bool(mode)
        if not self.training:
            self._clear_tape()              # a subclass may keep more than the tape (StepLinear)
            clear_all = getattr(self, "_clear_all_tapes", None)
            if clear_all is not None:
                clear_all()
        return self

    def eval(self):
        """Inference mode: forward keeps no activations; backward raises. Returns self."""
        return self.train(False)

    def _clear_tape(self):
        raise NotImplementedError

    def _require_tape(self):
        if not self.training:
            raise RuntimeError(f"backward() called in eval mode: {type(self).__name__} keeps no "
                               f"activations in eval mode; call .train() and run forward again")

    def _check_version(self, version):
        if version != self._param_version:
            raise RuntimeError("parameters were replaced (load_state_dict or attribute assignment) "
                               "between forward() and backward(); run forward again")


_GRAD_LOCK = threading.Lock()


class ThreadTape:
    """Mixin: ``self._tape`` (what a train-mode forward records for backward) is per thread.

    Two threads may train one module at once: each backward consumes the tape
    of a forward run on its own thread (a backward on a thread that ran no
    forward raises as if there were none), and their parameter gradients add up.
    ``train(False)`` drops the tapes of every thread; ``_clear_tape`` only the caller's.
    The tapes are keyed by the Thread objects themselves, weakly: a thread that
    has ended takes its tape with it, and a new thread never inherits one
    (thread ids are reused, Thread objects are not).
    """

    def _empty_tape(self):
        return None

    def _tapes_by_thread(self):
        tapes = self.__dict__.get("_tapes")
        if tapes is None:
            tapes = self.__dict__["_tapes"] = weakref.WeakKeyDictionary()
        return tapes

    @property
    def _tape(self):
        tapes, thread = self._tapes_by_thread(), threading.current_thread()
        tape = tapes.get(thread)
        if tape is None and thread not in tapes:
            tape = tapes[thread] = self._empty_tape()
        return tape

    @_tape.setter
    def _tape(self, value):
        self._tapes_by_thread()[threading.current_thread()] = value

    def _clear_tape(self):
        self._tape = self._empty_tape()

    def _clear_all_tapes(self):
        self.__dict__["_tapes"] = weakref.WeakKeyDictionary()


class StepTape(ThreadTape):
    """Mixin for modules whose every train-mode forward records one step on ``self._tape``
    and whose backward consumes the most recent one (cells, attention); per thread."""

    def _empty_tape(self):
        return []

    def clear_tape(self):
        """Drop every recorded step not yet backpropagated (e.g. after a forward-only pass)."""
        self._clear_tape()

    @property
    def pending_steps(self):
        """How many recorded forward steps still await backward()."""
        return len(self._tape)
