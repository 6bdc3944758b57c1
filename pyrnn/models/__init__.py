"""The classic recurrent-network applications, as small models built on pyrnn's layers and cells.

Each model composes pyrnn modules, has ``loss_and_backward`` (manual
backprop through the modules' own ``backward``), ``parameters`` for the
:mod:`pyrnn.train.optim` optimizers, ``state_dict``/``load_state_dict``,
``train``/``eval``; :func:`fit` trains any of them. Runnable demos live in ``examples/``.

    SequenceClassifier   many-to-one classification (digits row by row, text)
    Seq2Seq              encoder-decoder with additive/dot/no attention; greedy and beam search
    SequenceAutoencoder  sequence -> code vector -> sequence
    SequenceRegressor    many-to-one regression (the adding problem), ||dL/dh_t|| per step
    Captioner            image -> caption (Show and Tell): ImageEncoder (Conv2d stack) -> attending LSTM decoder
    RowLSTM, PixelLSTM   PixelRNN's Row LSTM and the pixel-by-pixel LSTM baseline (binary images)
    DRAW                 encoder/decoder LSTM cells, a Gaussian latent per step, read/write attention
    AdditiveAttention, DotAttention, Conv2d, mse_loss, corpus_bleu, IndependentBernoulli, bernoulli_nll
                         the building blocks and metrics they add
"""
from .attention import AdditiveAttention, DotAttention
from .autoencoder import SequenceAutoencoder
from .bleu import corpus_bleu
from .captioning import Captioner, ImageEncoder
from .classifier import SequenceClassifier
from .conv import Conv2d
from .draw import DRAW
from .encoder import LastStateEncoder
from .fit import fit
from .images import IndependentBernoulli, bernoulli_nll
from .losses import mse_loss
from .pixelrnn import PixelLSTM, RowLSTM
from .regression import SequenceRegressor
from .seq2seq import Seq2Seq

__all__ = ["SequenceClassifier", "Seq2Seq", "SequenceAutoencoder", "SequenceRegressor", "LastStateEncoder",
           "Captioner", "ImageEncoder", "RowLSTM", "PixelLSTM", "DRAW",
           "AdditiveAttention", "DotAttention", "Conv2d", "mse_loss", "corpus_bleu", "IndependentBernoulli",
           "bernoulli_nll", "fit"]
