"""Exceptions raised at the API door."""


class InputError(ValueError, RuntimeError):
    """An argument has the wrong shape or value; the message names it and what was expected.

    It is a ValueError (the NumPy convention) and also a RuntimeError, which
    is what torch.nn raises for the same mistakes, so code written against
    either library catches it.
    """


class StateDictError(InputError):
    """load_state_dict got missing or unknown keys, or arrays of the wrong shape."""


class DataError(ValueError):
    """Data that cannot be used (a file, a token outside the vocabulary); the message names it and what was expected."""
