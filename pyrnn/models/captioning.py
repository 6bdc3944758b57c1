"""Image captioning (Show and Tell; Show, Attend and Tell): an image encoder feeding an LSTM decoder.

    images (B, S, S, 3) -> [conv 4x4 stride 2 -> ReLU] x len(channels) -> feature map (B, g, g, C), g = S / 2^len
    decoder's initial state:  h_0 = tanh(W_h flat(map) + b_h),  c_0 = W_c flat(map) + b_c
    regions (attention):      values = W_v [map; x, y] (B, R, H), R = g^2, keys = key_proj(values)
    decoder step t: exactly Seq2Seq's (context over the regions, LSTM cell, Linear over [h_t; context_t])

The decoder is :class:`pyrnn.models.Seq2Seq`'s: the image encoder takes the
place of the source embedding and encoder RNN (its forward gives the
decoder's initial state and what attention reads; its backward takes their
gradients), so teacher forcing, the loss and its backward through the
decoder, greedy decoding and beam search are Seq2Seq's own code.
``encoder="linear"`` replaces the convolutions by one Linear over the
pixels (no regions, so no attention): the baseline that shows whether
convolutions are needed.
"""
import numpy as np

from .._checks import as_float
from ..cells import GRUCell, LSTMCell, RNNCell
from ..errors import InputError
from ..train.modules import Embedding, Linear
from .attention import ATTENTION
from .conv import Conv2d
from .encoder import check_cell
from .seq2seq import Seq2Seq

CELLS = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}
ENCODERS = ("conv", "linear")


class ImageEncoder:
    """images (B, S, S, 3) -> (regions (B, R, H) or None, initial decoder state); and the way back.

    Not a model on its own: it exposes ``modules`` (``conv1``, ``conv2``, ...,
    ``init_h``, ``init_c`` for an LSTM, ``region_proj`` with regions) for the
    model that embeds it. The regions carry their (x, y) position in [-1, 1]
    as two extra channels, since a convolution's features do not say where
    they are and "left of" needs it.
    """

    def __init__(self, image_size, hidden, channels=(16, 32), kind="conv", regions=True, lstm=True,
                 dtype=np.float32, seeds=(0, 1, 2, 3, 4)):
        if kind not in ENCODERS:
            raise InputError(f"encoder must be one of {list(ENCODERS)}, got {kind!r}")
        if kind == "linear" and regions:
            raise InputError("a linear encoder has no image regions to attend over: use attention=None")
        self.kind, self.size, self.lstm, self.dtype = kind, image_size, lstm, np.dtype(dtype)
        self.modules = {}
        self.convs = []
        if kind == "conv":
            size, c_in = image_size, 3
            for k, c_out in enumerate(channels):
                conv = Conv2d(c_in, c_out, 4, stride=2, padding=1, dtype=dtype, seed=seeds[0] + k)
                size, c_in = conv.output_size(size), c_out
                self.convs.append(conv)
                self.modules[f"conv{k + 1}"] = conv
            if size < 1:
                raise InputError(f"image_size {image_size} is too small for {len(channels)} stride-2 convolutions")
            self.grid = size
            flat = self.grid * self.grid * channels[-1]
        else:
            flat = image_size * image_size * 3
        self.init_h = Linear(flat, hidden, dtype=dtype, seed=seeds[2])
        self.modules["init_h"] = self.init_h
        if lstm:
            self.init_c = Linear(flat, hidden, dtype=dtype, seed=seeds[3])
            self.modules["init_c"] = self.init_c
        self.region_proj = None
        if regions:
            self.region_proj = Linear(channels[-1] + 2, hidden, dtype=dtype, seed=seeds[4])
            self.modules["region_proj"] = self.region_proj
            g = (np.arange(self.grid) + 0.5) / self.grid * 2 - 1
            ys, xs = np.meshgrid(g, g, indexing="ij")
            self._coords = np.stack([xs, ys], axis=-1).reshape(1, -1, 2).astype(self.dtype)   # (1, R, 2)
        self._saved = None

    def check(self, images):
        images = as_float(images, "images", self.dtype)
        if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise InputError(f"images must be (batch, {self.size}, {self.size}, 3), got shape {images.shape}")
        return images

    def forward(self, images, training):
        """images (B, S, S, 3) -> (regions (B, R, H) or None, state: (h_0, c_0) each (B, H) for an LSTM, else h_0)."""
        B = images.shape[0]
        acts = []                                                        # each convolution's ReLU output
        if self.kind == "conv":
            a = images
            for conv in self.convs:
                a = np.maximum(conv.forward(a), 0)
                acts.append(a)
            fmap = a                                                     # (B, g, g, C)
            flat = fmap.reshape(B, -1)
        else:
            fmap, flat = None, images.reshape(B, -1)
        h0 = np.tanh(self.init_h.forward(flat))
        state = (h0, self.init_c.forward(flat)) if self.lstm else h0
        regions = None
        if self.region_proj is not None:
            feats = np.concatenate([fmap.reshape(B, self.grid ** 2, -1),
                                    np.broadcast_to(self._coords, (B,) + self._coords.shape[1:])], axis=2)
            regions = self.region_proj.forward(feats)                   # (B, R, H)
        if training:
            self._saved = (acts, fmap, h0)
        return regions, state

    def backward(self, dregions, dstate):
        """dregions (B, R, H) or None, dstate like the state -> accumulate every gradient; returns d images."""
        acts, fmap, h0 = self._saved
        self._saved = None
        dh0, dc0 = dstate if self.lstm else (dstate, None)
        dflat = self.init_h.backward(dh0 * (1 - h0 * h0))             # tanh' from its output
        if self.lstm:
            dflat = dflat + self.init_c.backward(dc0)
        if self.kind == "linear":
            return dflat.reshape((-1, self.size, self.size, 3))
        dmap = dflat.reshape(fmap.shape)
        if self.region_proj is not None:
            dfeats = self.region_proj.backward(dregions)
            dmap = dmap + dfeats[:, :, :-2].reshape(fmap.shape)       # the coordinates are constants
        d = dmap
        for conv, a in zip(reversed(self.convs), reversed(acts)):
            d = conv.backward(d * (a > 0))                           # ReLU' from its output
        return d


class _ImageAsSource:
    """Seq2Seq's ``encoder`` seen from its loss_and_backward: ``backward(d values, d state)`` -> (d images, None).

    Seq2Seq.loss_and_backward ends with ``dx, _ = self.encoder.backward(dy, dstate)`` and
    ``self.src_embedding.backward(dx)``: here dy is the gradient on the regions (the attention's
    values, keys included through key_proj), dstate the one on the decoder's initial state
    (shaped (1, B, H) like a one-layer RNN's final state).
    """

    def __init__(self, image_encoder):
        self.image_encoder = image_encoder

    def backward(self, dregions, dstate):
        dstate = tuple(d[0] for d in dstate) if self.image_encoder.lstm else dstate[0]
        has_regions = self.image_encoder.region_proj is not None
        return self.image_encoder.backward(dregions if has_regions else None, dstate), None


class _Pixels:
    """Seq2Seq's ``src_embedding`` for images: the pixels are the input; nothing to learn, no gradient to keep."""

    def backward(self, dimages):
        return None


class Captioner(Seq2Seq):
    """Caption generator: images (B, S, S, 3) in [0, 1] -> word ids ending with eos_id.

    vocab_size: words including pad_id, bos_id, eos_id; image_size: S;
    channels: the output channels of each convolution (4x4, stride 2); embed, hidden: word
    embedding and decoder sizes; cell: "lstm" (Show and Tell) or "gru";
    attention: "additive" (Show, Attend and Tell), "dot" or None; encoder:
    "conv" or "linear" (pixels straight into the initial state; no attention).
    Parameters: ``conv1.*``, ``conv2.*``, ... (torch.nn.Conv2d names, channels-last
    input), ``init_h.*``, ``init_c.*``, ``region_proj.*``, ``key_proj.*``,
    ``attention.*``, ``tgt_embedding.*``, ``decoder.*``, ``out.*``.
    Training: ``loss_and_backward(images, captions)`` with captions (B, L)
    padded with pad_id; decoding: ``greedy_decode(images, max_len=...)``,
    ``beam_search(images, beam_size=..., max_len=...)`` (Seq2Seq's).
    """

    def __init__(self, vocab_size, image_size=32, channels=(16, 32), embed=32, hidden=128, cell="lstm",
                 attention="additive", attn_size=None, encoder="conv", pad_id=0, bos_id=1, eos_id=2,
                 backend="auto", dtype=np.float32, seed=0):
        check_cell(cell)
        if attention is not None and attention not in ATTENTION:
            raise InputError(f"attention must be one of {sorted(ATTENTION)} or None, got {attention!r}")
        attn_size = hidden if attn_size is None else attn_size
        self.config = dict(vocab_size=vocab_size, image_size=image_size, channels=tuple(channels), embed=embed,
                           hidden=hidden, cell=cell, attention=attention, attn_size=attn_size, encoder=encoder,
                           pad_id=pad_id, bos_id=bos_id, eos_id=eos_id)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.is_lstm = cell == "lstm"
        self.hidden, self.embed = hidden, embed
        s = [int(v) for v in np.random.default_rng(seed).integers(0, 2**31, size=10)]
        self.image_encoder = ImageEncoder(image_size, hidden, channels, encoder, regions=attention is not None,
                                          lstm=self.is_lstm, dtype=dtype, seeds=s[:5])
        modules = dict(self.image_encoder.modules)
        self.attention = None
        if attention is not None:
            # As in Seq2Seq: keys projected once per image (no bias for the dot score; it would cancel).
            key_size = attn_size if attention == "additive" else hidden
            modules["key_proj"] = Linear(hidden, key_size, bias=attention == "additive", dtype=dtype, seed=s[5])
            self.attention = (ATTENTION["additive"](hidden, attn_size, dtype=dtype, seed=s[6])
                              if attention == "additive" else ATTENTION["dot"](dtype=dtype, seed=s[6]))
            modules["attention"] = self.attention
        context = hidden if attention is not None else 0
        modules["tgt_embedding"] = Embedding(vocab_size, embed, dtype=dtype, seed=s[7])
        modules["decoder"] = CELLS[cell](embed + context, hidden, backend=backend, dtype=dtype, seed=s[8])
        modules["out"] = Linear(hidden + context, vocab_size, dtype=dtype, seed=s[9])
        self._register(modules)
        for name, m in modules.items():
            setattr(self, name, m)
        self.encoder, self.src_embedding = _ImageAsSource(self.image_encoder), _Pixels()

    def _check_src(self, images, lengths=None):
        """(images checked, placeholder lengths (B,)): Seq2Seq's beam search slices both per example."""
        images = self.image_encoder.check(images)
        return images, np.ones(images.shape[0], dtype=np.int64)

    def _encode(self, images, lengths=None):
        """-> dict(outputs: regions or the state's h (B, ...), memory for attention or None, state)."""
        images, _ = self._check_src(images)
        regions, state = self.image_encoder.forward(images, self.training)
        memory = None
        if self.attention is not None:
            memory = self.attention.memory(self.key_proj.forward(regions), regions)
        return dict(outputs=regions if regions is not None else self._hidden(state), memory=memory, state=state)

    def loss_and_backward(self, images, captions):
        """Mean cross-entropy (nats per caption word, end token included) with teacher forcing; accumulates
        every gradient (decoder, attention and image encoder). captions (B, L) ids padded with pad_id."""
        return super().loss_and_backward(images, captions)

    def loss(self, images, captions):
        """Forward-only teacher-forced loss (nats per caption word)."""
        return super().loss(images, captions)
