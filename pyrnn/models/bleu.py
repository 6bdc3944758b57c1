"""Corpus BLEU (Papineni et al. 2002) over word lists, with several references per hypothesis.

    BLEU-N = BP * exp(mean_{n=1..N} log p_n)
    p_n    = sum over the corpus of clipped n-gram matches / sum of hypothesis n-grams
             (each n-gram counts at most as often as in the reference that has it most)
    BP     = 1 if c > r else exp(1 - r / c); c: hypothesis words, r: the sum over the corpus of
             the reference length closest to each hypothesis (the shorter one on a tie)

As nltk's ``corpus_bleu`` without smoothing: a corpus with no matching
n-gram of some order scores 0.
"""
import collections
import math


def _ngrams(words, n):
    return collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(hypotheses, references, max_n=4):
    """hypotheses: list of word lists; references: list (same length) of lists of word lists -> BLEU in [0, 1]."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        if not refs:
            raise ValueError("every hypothesis needs at least one reference")
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            most = collections.Counter()
            for r in refs:
                most |= _ngrams(r, n)                  # max count of each n-gram over the references
            matches[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(log_p)
