"""The classic recurrent-network applications, as small models built on pyrnn's layers and cells.

Each model composes pyrnn modules, has ``loss_and_backward`` (manual
backprop through the modules' own ``backward``), ``parameters`` for the
:mod:`pyrnn.train.optim` optimizers, ``state_dict``/``load_state_dict``,
``train``/``eval``; :func:`fit` trains any of them. Runnable demos live in ``examples/``.

    SequenceClassifier   many-to-one classification (digits row by row, text)
    Seq2Seq              encoder-decoder with additive/dot/no attention; greedy and beam search
    SequenceAutoencoder  sequence -> code vector -> sequence
    SequenceRegressor    many-to-one regression (the adding problem), ||dL/dh_t|| per step
    AdditiveAttention, DotAttention, mse_loss   the building blocks they add
"""
from .attention import AdditiveAttention, DotAttention
from .autoencoder import SequenceAutoencoder
from .classifier import SequenceClassifier
from .encoder import LastStateEncoder
from .fit import fit
from .losses import mse_loss
from .regression import SequenceRegressor
from .seq2seq import Seq2Seq

__all__ = ["SequenceClassifier", "Seq2Seq", "SequenceAutoencoder", "SequenceRegressor", "LastStateEncoder",
           "AdditiveAttention", "DotAttention", "mse_loss", "fit"]

# Image captioning (issue #17): the captioner, its convolution, corpus BLEU.
from .bleu import corpus_bleu  # noqa: E402
from .captioning import Captioner, ImageEncoder  # noqa: E402
from .conv import Conv2d  # noqa: E402

__all__ += ["Captioner", "ImageEncoder", "Conv2d", "corpus_bleu"]

# Generative models of binary images (issue #17): PixelRNN's Row LSTM and its baselines, DRAW.
from .draw import DRAW  # noqa: E402
from .images import IndependentBernoulli, bernoulli_nll  # noqa: E402
from .pixelrnn import PixelLSTM, RowLSTM  # noqa: E402

__all__ += ["RowLSTM", "PixelLSTM", "DRAW", "IndependentBernoulli", "bernoulli_nll"]
