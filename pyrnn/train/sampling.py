"""Generating text from a trained LanguageModel."""
import numpy as np

from ..errors import InputError


def pick_next(logits, temperature, top_k, rng):
    """One id from logits (V,): temperature 0 = argmax; top_k > 0 keeps the k most likely.

    Computed as softmax((logits - max) / temperature) in float64: the shift makes
    every exponent <= 0, so no temperature overflows; a temperature so small
    that only the most likely tokens keep any weight acts as greedy (ties drawn
    evenly). NaN logits (a diverged model) raise instead of picking token 0.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if np.isnan(logits).any():
        raise InputError("the model produced NaN scores (its weights have diverged); nothing to sample from")
    if temperature == 0:
        return int(np.argmax(logits))
    top = logits.max()
    if not np.isfinite(top):
        return int(np.argmax(logits))        # +inf: that token wins outright
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        z = (logits - top) / temperature      # <= 0 everywhere; -inf for what the temperature rules out
    z = np.where(np.isnan(z), -np.inf, z)     # -inf - (-inf) from -inf logits: no weight
    if 0 < top_k < z.size:
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z)
    p /= p.sum()                              # the maximum has z = 0, so the sum is >= 1
    return int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"), z.size - 1))


def generate(model, vocab, length, temperature=1.0, top_k=0, prime="", seed=None):
    """Yield the text piece by piece: first the prime (or the drawn first token), then each new token.

    Streaming: a caller can print each piece as it comes and keep what was
    printed when interrupted. Reproducible with seed.
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
    yield prime if prime else vocab.decode(ids)
    logits, state = model.forward(ids[:, None], None)
    for _ in range(length):
        nxt = pick_next(logits[-1, 0], temperature, top_k, rng)
        yield vocab.decode([nxt])
        logits, state = model.forward(np.array([[nxt]], dtype=np.int32), state)


def sample(model, vocab, length, temperature=1.0, top_k=0, prime="", seed=None):
    """prime + `length` generated tokens as one string (see :func:`generate`).

    The prime text is run through the model first (its characters must be
    in the vocabulary); without one, the first token is drawn uniformly.
    """
    return "".join(generate(model, vocab, length, temperature, top_k, prime, seed))
