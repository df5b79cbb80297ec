"""The layer modules of ``ember.nn``, one file per family (as ``torch.nn.modules``)."""
from .module import Module, RemovableHandle
from .container import Sequential, ModuleList, ModuleDict, ParameterList
from .linear import Identity, Linear
from .conv import Conv1d, Conv2d
from .pooling import MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
from .batchnorm import BatchNorm1d, BatchNorm2d
from .syncbatchnorm import SyncBatchNorm
from .normalization import LayerNorm
from .dropout import Dropout, Dropout2d
from .flatten import Flatten, Unflatten
from .sparse import Embedding
from .rnn import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .activation import ReLU, ReLU6, LeakyReLU, ELU, GELU, Sigmoid, Tanh, SiLU, Softplus, Softmax, LogSoftmax
from .loss import (
    CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss, MSELoss, L1Loss, HuberLoss, SmoothL1Loss,
)
from .attention import MultiheadAttention
from .transformer import (
    TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder, Transformer,
)
from .conv import ConvTranspose1d, ConvTranspose2d
from .normalization import GroupNorm
from .activation import Mish
from .upsampling import Upsample

__all__ = [
    "Module", "RemovableHandle", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "Identity", "Linear",
    "Conv1d", "Conv2d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Dropout2d", "Flatten", "Unflatten", "Embedding", "RNN",
    "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh",
    "SiLU", "Softplus", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss",
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
    "TransformerDecoder", "Transformer",
    "ConvTranspose1d", "ConvTranspose2d", "GroupNorm", "Mish", "Upsample",
    "SyncBatchNorm",
]
