"""Generating text from a trained LanguageModel."""
import numpy as np

from ..errors import InputError


def pick_next(logits, temperature, top_k, rng):
    """One id from logits (V,): temperature 0 = argmax; top_k > 0 keeps the k most likely."""
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    if 0 < top_k < z.size:
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"), z.size - 1))


def sample(model, vocab, length, temperature=1.0, top_k=0, prime="", seed=None):
    """prime + `length` generated tokens, reproducible with seed.

    The prime text is run through the model first (its characters must be
    in the vocabulary); without one, the first token is drawn uniformly.
    """
    if temperature < 0:
        raise InputError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise InputError(f"top_k must be >= 0, got {top_k}")
    missing = vocab.unknown(prime)
    if missing:
        raise InputError(f"prime contains characters that are not in the vocabulary: {''.join(missing)!r}")
    rng = np.random.default_rng(seed)
    model.eval()
    ids = vocab.encode(prime) if prime else np.array([rng.integers(len(vocab))], dtype=np.int32)
    logits, state = model.forward(ids[:, None], None)
    out = []
    for _ in range(length):
        nxt = pick_next(logits[-1, 0], temperature, top_k, rng)
        out.append(nxt)
        logits, state = model.forward(np.array([[nxt]], dtype=np.int32), state)
    return (prime if prime else vocab.decode(ids)) + vocab.decode(out)
