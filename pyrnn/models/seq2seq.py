"""Sequence to sequence with attention: an encoder RNN, a decoder cell run step by step.

    source ids (B, S) -> Embedding -> encoder LSTM/GRU/RNN layer -> outputs (B, S, H), final state
    decoder step t (state starts as the encoder's final state):
        context_t, weights_t = attention(query = h_{t-1}, keys = K(outputs), values = outputs)
        h_t = cell([embed(y_{t-1}); context_t], h_{t-1})                  (Bahdanau et al. 2015)
        logits_t = Linear([h_t; context_t])
    y_0 is the start token; the target ends with the end-of-sequence token.

Training uses teacher forcing (the decoder reads the true previous token);
decoding is greedy or beam search and stops at the end-of-sequence token.
``attention=None`` gives the same model without attention: the decoder sees
the source only through the encoder's final state (Sutskever et al. 2014).
"""
import numpy as np

from ..cells import GRUCell, LSTMCell, RNNCell
from ..errors import InputError
from ..train.losses import softmax_cross_entropy
from ..train.modules import Embedding, Linear
from .attention import ATTENTION, Memory
from .base import Model
from .encoder import LAYERS, check_cell

CELLS = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}


class _EvalMode:
    """Run a block in eval mode (no tapes) and restore the previous mode after it."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


class Seq2Seq(Model):
    """Encoder-decoder over token ids, with additive, dot or no attention.

    src_vocab, tgt_vocab: vocabulary sizes; pad_id, bos_id, eos_id: the
    target vocabulary's padding, start and end-of-sequence ids (the source's
    padding is given by ``src_lengths`` instead). embed: embedding size of
    both sides; hidden: H of encoder and decoder; attention: "additive",
    "dot" or None; attn_size: size of the additive attention's space.
    Parameters: ``src_embedding.*``, ``encoder.*`` (torch.nn layer names),
    ``tgt_embedding.*``, ``key_proj.*``, ``attention.*``, ``decoder.*``
    (torch.nn cell names), ``out.*``.
    """

    def __init__(self, src_vocab, tgt_vocab, embed=32, hidden=128, cell="lstm", attention="additive",
                 attn_size=None, pad_id=0, bos_id=1, eos_id=2, backend="auto", dtype=np.float32, seed=0):
        check_cell(cell)
        if attention is not None and attention not in ATTENTION:
            raise InputError(f"attention must be one of {sorted(ATTENTION)} or None, got {attention!r}")
        attn_size = hidden if attn_size is None else attn_size
        self.config = dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, embed=embed, hidden=hidden, cell=cell,
                           attention=attention, attn_size=attn_size, pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.is_lstm = cell == "lstm"
        self.hidden, self.embed = hidden, embed
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=7)]
        modules = {"src_embedding": Embedding(src_vocab, embed, dtype=dtype, seed=s[0]),
                   "encoder": LAYERS[cell](embed, hidden, batch_first=True, backend=backend, dtype=dtype, seed=s[1]),
                   "tgt_embedding": Embedding(tgt_vocab, embed, dtype=dtype, seed=s[2])}
        self.attention = None
        if attention is not None:
            # Keys are projected once per source sequence rather than once per decoder step. For
            # the dot score the projection is Luong's "general" W (no bias: a bias adds the same
            # q . b to every score of a row and cancels in the softmax).
            key_size = attn_size if attention == "additive" else hidden
            modules["key_proj"] = Linear(hidden, key_size, bias=attention == "additive", dtype=dtype, seed=s[3])
            self.attention = (ATTENTION["additive"](hidden, attn_size, dtype=dtype, seed=s[4])
                              if attention == "additive" else ATTENTION["dot"](dtype=dtype, seed=s[4]))
            modules["attention"] = self.attention
        context = hidden if attention is not None else 0
        modules["decoder"] = CELLS[cell](embed + context, hidden, backend=backend, dtype=dtype, seed=s[5])
        modules["out"] = Linear(hidden + context, tgt_vocab, dtype=dtype, seed=s[6])
        self._register(modules)
        for name, m in modules.items():
            setattr(self, name, m)

    # -- encoder -----------------------------------------------------------------------
    def _check_src(self, src, src_lengths):
        src = np.asarray(src)
        if src.ndim != 2:
            raise InputError(f"src must be token ids (batch, S), got shape {src.shape}")
        B, S = src.shape
        if src_lengths is None:
            src_lengths = np.full(B, S, dtype=np.int64)
        src_lengths = np.asarray(src_lengths)
        if src_lengths.shape != (B,):
            raise InputError(f"src_lengths must have shape (batch,) = ({B},), got {src_lengths.shape}")
        S = int(src_lengths.max())                # steps past the longest source only cost time
        return src[:, :S], src_lengths

    def _encode(self, src, src_lengths):
        """-> dict(outputs (B, S, H), memory: what attention reads (or None), state: decoder's initial state)."""
        src, src_lengths = self._check_src(src, src_lengths)
        y, state = self.encoder(self.src_embedding.forward(src), None, lengths=src_lengths)
        # (1, B, H) -> (B, H): the decoder starts where the encoder ended (each source's own last step).
        state = (state[0][0], state[1][0]) if self.is_lstm else state[0]
        memory = None
        if self.attention is not None:
            mask = np.arange(src.shape[1])[None, :] < src_lengths[:, None]
            memory = self.attention.memory(self.key_proj.forward(y), y, mask)
        return dict(outputs=y, memory=memory, state=state)

    def _hidden(self, state):
        return state[0] if self.is_lstm else state

    def _step(self, emb_t, state, enc):
        """One decoder step: emb_t (B, E) -> (new state, features (B, F) for the output layer, weights or None)."""
        if self.attention is None:
            state = self.decoder(emb_t, state)
            return state, self._hidden(state), None
        context, w = self.attention(self._hidden(state), enc["memory"])
        state = self.decoder(np.concatenate([emb_t, context], axis=1), state)
        return state, np.concatenate([self._hidden(state), context], axis=1), w

    # -- training (teacher forcing) -------------------------------------------------------
    def _check_tgt(self, tgt, B):
        tgt = np.asarray(tgt)
        if tgt.ndim != 2 or tgt.shape[0] != B or tgt.dtype.kind not in "iu":
            raise InputError(f"tgt must be integer token ids (batch, L) with batch = {B}, got "
                             f"{tgt.dtype} {tgt.shape}")
        return tgt

    def _teacher_forced_logits(self, src, tgt, src_lengths):
        enc = self._encode(src, src_lengths)
        tgt = self._check_tgt(tgt, enc["outputs"].shape[0])
        B, L = tgt.shape
        # Teacher forcing: the decoder reads the true previous token, so all inputs are known up front.
        dec_in = np.concatenate([np.full((B, 1), self.bos_id, dtype=tgt.dtype), tgt[:, :-1]], axis=1)
        emb = self.tgt_embedding.forward(dec_in)                       # (B, L, E)
        state, feats = enc["state"], []
        for t in range(L):
            state, f, _ = self._step(emb[:, t], state, enc)
            feats.append(f)
        # The output layer does not feed back under teacher forcing: one product for all L steps.
        logits = self.out.forward(np.stack(feats, axis=1))             # (B, L, V)
        return logits, tgt, enc

    def _masked_loss(self, logits, tgt):
        valid = tgt != self.pad_id
        loss, dsel = softmax_cross_entropy(logits[valid], tgt[valid])   # mean over real target tokens
        dlogits = np.zeros_like(logits)
        dlogits[valid] = dsel
        return loss, dlogits

    def loss_and_backward(self, src, tgt, src_lengths=None):
        """Mean cross-entropy (nats per target token) with teacher forcing; accumulates every gradient.

        src (B, S) ids (padding beyond src_lengths is never read); tgt (B, L)
        ids ending with eos_id and padded with pad_id (not counted). Returns the loss.
        """
        logits, tgt, enc = self._teacher_forced_logits(src, tgt, src_lengths)
        loss, dlogits = self._masked_loss(logits, tgt)
        dfeats = self.out.backward(dlogits)                             # (B, L, F)
        B, L = tgt.shape
        H, E = self.hidden, self.embed
        demb = np.empty((B, L, E), dtype=dfeats.dtype)
        dh = np.zeros((B, H), dtype=dfeats.dtype)                       # d loss / d h_t from later steps
        dc = np.zeros((B, H), dtype=dfeats.dtype) if self.is_lstm else None
        if self.attention is not None:
            dkeys, dvalues = np.zeros_like(enc["memory"].keys), np.zeros_like(enc["memory"].values)
        for t in range(L - 1, -1, -1):                                   # the tapes are last in, first out
            dh = dh + dfeats[:, t, :H]
            dinp, dprev = self.decoder.backward((dh, dc) if self.is_lstm else dh)
            dh, dc = dprev if self.is_lstm else (dprev, None)
            demb[:, t] = dinp[:, :E]
            if self.attention is not None:
                dquery, dk, dv = self.attention.backward(dfeats[:, t, H:] + dinp[:, E:])
                dh = dh + dquery                                        # the query was h_{t-1}
                dkeys += dk
                dvalues += dv
        self.tgt_embedding.backward(demb)
        # The encoder's outputs fed the loss only through attention (as values, and as keys via key_proj).
        dy = dvalues + self.key_proj.backward(dkeys) if self.attention is not None else np.zeros_like(enc["outputs"])
        dstate = (dh[None], dc[None]) if self.is_lstm else dh[None]   # the encoder's final state fed the decoder
        dx, _ = self.encoder.backward(dy, dstate)
        self.src_embedding.backward(dx)
        return loss

    def loss(self, src, tgt, src_lengths=None):
        """Forward-only teacher-forced loss (nats per target token)."""
        with _EvalMode(self):
            logits, tgt, _ = self._teacher_forced_logits(src, tgt, src_lengths)
            return self._masked_loss(logits, tgt)[0]

    # -- decoding ----------------------------------------------------------------------
    def greedy_decode(self, src, src_lengths=None, max_len=20):
        """Most probable token at every step, until eos_id or max_len tokens.

        Returns ``(sequences, weights)``: a list of B token-id lists (without
        eos_id) and the attention weights (B, steps, S) (None without attention).
        """
        with _EvalMode(self):
            enc = self._encode(src, src_lengths)
            B = enc["outputs"].shape[0]
            tokens = np.full(B, self.bos_id, dtype=np.int64)
            state, out, weights = enc["state"], [], []
            done = np.zeros(B, dtype=bool)
            for _ in range(max_len):
                state, f, w = self._step(self.tgt_embedding.forward(tokens), state, enc)
                tokens = np.argmax(self.out.forward(f), axis=1)
                out.append(tokens)
                weights.append(w)
                done |= tokens == self.eos_id
                if done.all():
                    break
        ids = np.stack(out, axis=1)
        seqs = [_until_eos(row, self.eos_id) for row in ids]
        return seqs, (np.stack(weights, axis=1) if self.attention is not None else None)

    def beam_search(self, src, src_lengths=None, beam_size=4, max_len=20):
        """Beam search: keep the ``beam_size`` most probable prefixes (sum of log-probabilities).

        A prefix that emits eos_id is finished; the search stops when no live
        prefix can beat the best finished one (log-probabilities only fall as
        a prefix grows) or after max_len steps. Returns a list of B token-id
        lists (without eos_id). Each source is searched on its own, its
        beams forming the batch of the decoder cell.
        """
        src, src_lengths = self._check_src(src, src_lengths)
        results = []
        with _EvalMode(self):
            for b in range(src.shape[0]):
                results.append(self._beam_one(src[b:b + 1], src_lengths[b:b + 1], beam_size, max_len))
        return results

    def _beam_one(self, src, src_lengths, beam_size, max_len):
        enc1 = self._encode(src, src_lengths)
        state = enc1["state"]
        live = [((), 0.0)]                           # (tokens, log-probability); states in `state` rows
        finished = []
        for _ in range(max_len):
            k = len(live)
            # The k live prefixes form the decoder's batch: the source's memory repeated k times.
            enc = {"memory": None if enc1["memory"] is None else
                   Memory(*(np.repeat(a, k, axis=0) for a in enc1["memory"]))}
            last = np.array([toks[-1] if toks else self.bos_id for toks, _ in live], dtype=np.int64)
            state, f, _ = self._step(self.tgt_embedding.forward(last), state, enc)
            z = self.out.forward(f).astype(np.float64)
            logp = z - z.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
            total = np.array([s for _, s in live])[:, None] + logp      # (k, V)
            # The best 2 * beam_size extensions: an end token among the first beam_size finishes
            # a prefix; the best beam_size others stay live (so a beam of 1 is greedy decoding).
            order = np.argsort(-total, axis=None)[:2 * beam_size]
            new_live, rows = [], []
            for rank, flat in enumerate(order):
                row, tok = divmod(int(flat), total.shape[1])
                toks, score = live[row][0] + (tok,), float(total[row, tok])
                if tok == self.eos_id:
                    if rank < beam_size:
                        finished.append((toks[:-1], score))
                elif len(new_live) < beam_size:
                    new_live.append((toks, score))
                    rows.append(row)
            best_done = max((s for _, s in finished), default=-np.inf)
            if not new_live or best_done >= new_live[0][1]:     # no live prefix can win any more
                break
            live = new_live
            state = tuple(s[rows] for s in state) if self.is_lstm else state[rows]
        else:
            finished.extend(live)                    # max_len reached: unfinished prefixes compete too
        return list(max(finished, key=lambda ts: ts[1])[0]) if finished else []


def _until_eos(row, eos_id):
    row = list(int(t) for t in row)
    return row[:row.index(eos_id)] if eos_id in row else row
