"""Training toolkit: modules around the recurrent core, losses, optimizers, data, trainer, sampling.

    from pyrnn.train import LanguageModel, Adam, softmax_cross_entropy, Trainer, TrainConfig, sample
"""
from ..vocab import Vocabulary
from .checkpoint import CheckpointError
from .data import ContiguousBatches, CorpusError, load_corpus, split_train_val
from .losses import softmax_cross_entropy
from .model import LanguageModel
from .modules import Embedding, Linear
from .optim import SGD, Adagrad, Adam, OPTIMIZERS, RMSProp, clip_grad_norm, clip_grad_value, collect_parameters
from .sampling import generate, pick_next, sample
from .trainer import TrainConfig, Trainer

__all__ = ["Embedding", "Linear", "softmax_cross_entropy", "SGD", "Adagrad", "RMSProp", "Adam", "OPTIMIZERS",
           "clip_grad_norm", "clip_grad_value", "collect_parameters", "Vocabulary", "ContiguousBatches",
           "load_corpus", "split_train_val", "CorpusError", "LanguageModel", "TrainConfig", "Trainer",
           "CheckpointError", "sample", "generate", "pick_next"]
