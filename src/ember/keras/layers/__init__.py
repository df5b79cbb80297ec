"""Keras layers. Each is an ``ember.nn.Module`` that builds its weights from its first input."""
from .base import Layer, KerasTensor
from .core import InputLayer, Input, Dense, Activation, Dropout, Flatten, Reshape, Embedding, Masking
from .convolutional import (
    Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
    Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
)
from .normalization import BatchNormalization, LayerNormalization
from .merging import Add, Subtract, Multiply, Average, Concatenate
from .recurrent import SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed
from .core import Identity
from .attention import MultiHeadAttention
from .text_vectorization import TextVectorization
from .convolutional import Conv2DTranspose, UpSampling2D
from .normalization import GroupNormalization

MaxPool2D, AvgPool2D, GlobalAvgPool2D, Convolution2D = MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Conv2D
MaxPool1D, AvgPool1D, GlobalAvgPool1D, Convolution1D = MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, Conv1D
Convolution2DTranspose = Conv2DTranspose

__all__ = [
    "Layer", "KerasTensor", "InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "BatchNormalization", "LayerNormalization", "Add", "Subtract", "Multiply", "Average", "Concatenate",
    "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Convolution2D", "SimpleRNN", "LSTM", "GRU",
    "Bidirectional", "TimeDistributed", "Embedding", "Masking", "Conv1D", "MaxPooling1D", "AveragePooling1D",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D", "Convolution1D",
    "Identity", "MultiHeadAttention", "TextVectorization",
    "Conv2DTranspose", "Convolution2DTranspose", "UpSampling2D", "GroupNormalization",
]
