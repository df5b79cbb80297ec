"""Keras's ``TextVectorization``: strings → standardized → split → n-grams → vocabulary indices or counts.

Runs on the host with NumPy and Python strings (Keras's needs TensorFlow); a preprocessing step that turns
text into the integer or float Tensors a model takes:

    vectorize = keras.layers.TextVectorization(max_tokens=5000, output_sequence_length=4)
    vectorize.adapt(["foo bar", "bar baz", "baz bada boom"])
    vectorize([["foo qux bar"], ["qux baz"]])   # int64 [[4, 1, 3, 0], [1, 2, 0, 0]]
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter

import numpy as np

from ... import functions as F
from ...autograd.tensor import Tensor
from .base import Layer

MASK_TOKEN, OOV_TOKEN = "", "[UNK]"
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")
# TensorFlow's whitespace split and lowercasing (which Keras uses) act on ASCII only
_ASCII_WHITESPACE = re.compile("[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")


class TextVectorization(Layer):
    """Maps a batch of strings to token indices (``output_mode="int"``) or per-document vectors.

    Args: max_tokens=None (vocabulary size cap, special tokens included: "" and "[UNK]" in int mode,
    "[UNK]" otherwise), standardize="lower_and_strip_punctuation" (or "lower", "strip_punctuation", None, or
    a callable on a NumPy array of strings returning one of the same shape), split="whitespace" (or
    "character", None, or a callable on a 1-d array of strings returning a list of token lists),
    ngrams=None (an int n: widths 1..n; a tuple: those widths; tokens joined by a space, width by width),
    output_mode="int" ("multi_hot", "count", "tf_idf"), output_sequence_length=None (int mode: pad with 0 or
    truncate to this length; None pads to the longest document of the batch), pad_to_max_tokens=False
    (non-int modes: output width max_tokens), vocabulary=None (a list/array of strings or a file with one
    per line), idf_weights=None (tf_idf with a given vocabulary), encoding="utf-8" (for bytes inputs).

    Input: a list/tuple/array of ``B`` strings, or of shape ``(B, 1)``. Output: int64 ``(B, length)`` in int
    mode (0 = padding, 1 = out of vocabulary); float32 ``(B, vocabulary_size())`` otherwise (index 0 counts
    out-of-vocabulary tokens).

    ``adapt(data)`` learns the vocabulary from a list/array of strings or an iterable of batches (an
    ``ember.data.Dataset``): tokens by descending frequency, ties broken by descending string order (as
    Keras sorts them), and for ``"tf_idf"`` the weights ``log(1 + documents / (1 + documents_with_token))``
    (the out-of-vocabulary weight is their mean).
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        where = "TextVectorization"
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"{where}: output_mode must be one of {_OUTPUT_MODES}, received {output_mode!r}")
        if not (standardize is None or callable(standardize)
                or standardize in ("lower_and_strip_punctuation", "lower", "strip_punctuation")):
            raise ValueError(f"{where}: standardize must be 'lower_and_strip_punctuation', 'lower', "
                             f"'strip_punctuation', None or a callable, received {standardize!r}")
        if not (split is None or callable(split) or split in ("whitespace", "character")):
            raise ValueError(f"{where}: split must be 'whitespace', 'character', None or a callable, received "
                             f"{split!r}")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and ngrams > 0) or (
                isinstance(ngrams, tuple) and ngrams and all(isinstance(n, int) and n > 0 for n in ngrams))):
            raise ValueError(f"{where}: ngrams must be None, a positive integer or a tuple of them, received "
                             f"ngrams={ngrams!r}")
        if output_mode == "int":
            if output_sequence_length is not None and (
                    not isinstance(output_sequence_length, int) or output_sequence_length < 0):
                raise ValueError(f"{where}: output_sequence_length must be None or a non-negative integer, "
                                 f"received {output_sequence_length!r}")
        elif output_sequence_length is not None:
            raise ValueError(f"{where}: output_sequence_length can only be set with output_mode='int', received "
                             f"output_sequence_length={output_sequence_length} with output_mode={output_mode!r}")
        if sparse or ragged:
            raise ValueError(f"{where}: sparse=True and ragged=True need TensorFlow tensors; Ember returns dense "
                             "Tensors (padded with 0 in int mode)")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 1):
            raise ValueError(f"{where}: max_tokens must be None or an integer > 1, received {max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: pad_to_max_tokens=True needs max_tokens")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.ngrams = ngrams
        self._ngram_widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.pad_to_max_tokens, self.encoding = bool(pad_to_max_tokens), encoding
        self._tokens: list[str] = []  # the learned or given tokens, special tokens excluded
        self._index: dict[str, int] = {}
        self._idf_weights: np.ndarray | None = None  # one per output index (special tokens included)
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{where}: idf_weights can only be given with a vocabulary")
        self.built = True

    # ---------------------------------------------------------------------------------- vocabulary
    @property
    def _special_tokens(self) -> list[str]:
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The vocabulary in index order: ``["", "[UNK]", ...]`` in int mode, ``["[UNK]", ...]`` otherwise."""
        return (self._special_tokens if include_special_tokens else []) + list(self._tokens)

    def vocabulary_size(self) -> int:
        """Number of indices, special tokens included."""
        return len(self._special_tokens) + len(self._tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Use ``vocabulary`` (strings, with or without the leading special tokens, or a file path) and, for
        tf_idf, ``idf_weights`` of the same length."""
        where = f"TextVectorization '{self.name}'"
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{where}: idf_weights must be set when output_mode is 'tf_idf'")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{where}: idf_weights can only be set when output_mode is 'tf_idf', received "
                             f"output_mode={self.output_mode!r}")
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as handle:
                vocabulary = [line.rstrip("\n") for line in handle]
        vocabulary = [self._decode(token) for token in _flat_strings(vocabulary)]
        if not vocabulary:
            raise ValueError(f"{where}: cannot set an empty vocabulary")
        special = self._special_tokens
        has_special = vocabulary[:len(special)] == special
        tokens = vocabulary[len(special):] if has_special else vocabulary
        repeated = sorted(token for token, count in Counter(tokens).items() if count > 1)
        if repeated:
            raise ValueError(f"{where}: the vocabulary repeats {repeated}; give each token once")
        if MASK_TOKEN in tokens:
            raise ValueError(f"{where}: the mask token '' may only come first in the vocabulary, followed by "
                             f"'[UNK]'; found at index {vocabulary.index(MASK_TOKEN)}")
        if self.max_tokens is not None and len(special) + len(tokens) > self.max_tokens:
            raise ValueError(f"{where}: a vocabulary of {len(special) + len(tokens)} indices exceeds max_tokens="
                             f"{self.max_tokens}")
        if idf_weights is not None:
            weights = np.asarray(idf_weights.numpy() if isinstance(idf_weights, Tensor) else idf_weights,
                                 dtype=np.float64)
            if weights.ndim != 1 or len(weights) != len(vocabulary):
                raise ValueError(f"{where}: idf_weights must be 1-d with one weight per vocabulary entry "
                                 f"({len(vocabulary)}), received shape {weights.shape}")
            if not has_special:  # the special tokens get the mean weight, as in Keras
                weights = np.concatenate([np.full(len(special), weights.mean()), weights])
            self._idf_weights = weights.astype(np.float32)
        self._set_tokens(tokens)
        self._has_input_vocabulary = True

    def _set_tokens(self, tokens) -> None:
        self._tokens = list(tokens)
        start = len(self._special_tokens)
        self._index = {token: start + position for position, token in enumerate(self._tokens)}

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary (and tf_idf weights) from ``data``: a list/array of strings, or an iterable of
        batches of strings such as an ``ember.data.Dataset`` (``steps`` limits the batches read)."""
        where = f"TextVectorization '{self.name}'"
        if self._has_input_vocabulary:
            raise ValueError(f"{where}: cannot adapt a layer whose vocabulary was given (vocabulary= or "
                             "set_vocabulary())")
        counts: Counter = Counter()
        document_counts: Counter = Counter()
        documents = 0
        if isinstance(data, (str, bytes)):
            raise TypeError(f"{where}: adapt expects a list, array or dataset of strings, received one string")
        batches = [data] if isinstance(data, (list, tuple, np.ndarray)) else data
        for index, batch in enumerate(batches):
            if steps is not None and index >= steps:
                break
            if isinstance(batch, (str, bytes)):
                batch = [batch]
            for tokens in self._tokenize(batch):
                counts.update(tokens)
                document_counts.update(set(tokens))
                documents += 1
        counts.pop(MASK_TOKEN, None)
        counts.pop(OOV_TOKEN, None)
        ordered = sorted(counts, key=lambda token: (counts[token], token), reverse=True)
        if self.max_tokens is not None:
            ordered = ordered[:self.max_tokens - len(self._special_tokens)]
        self._set_tokens(ordered)
        if self.output_mode == "tf_idf":
            idf = np.array([math.log(1 + documents / (1 + document_counts[token])) for token in ordered],
                           dtype=np.float32)
            oov = idf.mean(dtype=np.float32) if idf.size else np.float32(0)
            self._idf_weights = np.concatenate([np.full(len(self._special_tokens), oov, np.float32), idf])

    # ---------------------------------------------------------------------------------- processing
    def _decode(self, value) -> str:
        if isinstance(value, bytes):
            return value.decode(self.encoding)
        if isinstance(value, str):
            return value
        if isinstance(value, np.str_):
            return str(value)
        raise TypeError(f"TextVectorization '{self.name}': expected strings, received {type(value).__name__} "
                        f"{value!r}")

    def _documents(self, inputs) -> list[str]:
        """The batch as a list of Python strings, checking its shape ``(B,)`` or ``(B, 1)``."""
        if isinstance(inputs, (str, bytes)):
            raise TypeError(f"TextVectorization '{self.name}': expected a batch of strings (a list, or an array of "
                            f"shape (batch,) or (batch, 1)), received one string; wrap it in a list")
        array = np.asarray(inputs.numpy() if isinstance(inputs, Tensor) else inputs, dtype=object)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise ValueError(f"TextVectorization '{self.name}': expected a batch of strings of shape (batch,) or "
                             f"(batch, 1), received shape {array.shape}")
        return [self._decode(value) for value in array]

    def _standardized(self, documents: list[str]) -> list[str]:
        if callable(self.standardize):
            result = self.standardize(np.asarray(documents, dtype=str))
            return [self._decode(value) for value in np.asarray(result, dtype=object).reshape(-1)]
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            documents = [document.translate(_ASCII_LOWER) for document in documents]
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            documents = [_PUNCTUATION.sub("", document) for document in documents]
        return documents

    def _split(self, documents: list[str]) -> list[list[str]]:
        if self.split is None:
            return [[document] for document in documents]
        if self.split == "whitespace":
            return [[token for token in _ASCII_WHITESPACE.split(document) if token] for document in documents]
        if self.split == "character":
            return [list(document) for document in documents]
        result = self.split(np.asarray(documents, dtype=str))
        return [[self._decode(token) for token in np.asarray(tokens, dtype=object).reshape(-1)]
                for tokens in result]

    def _tokenize(self, inputs) -> list[list[str]]:
        """Standardize, split and form n-grams: one token list per document."""
        token_lists = self._split(self._standardized(self._documents(inputs)))
        if self._ngram_widths is None:
            return token_lists
        return [[" ".join(tokens[start:start + width]) for width in self._ngram_widths
                 for start in range(len(tokens) - width + 1)] for tokens in token_lists]

    def forward(self, inputs, training=None):
        token_lists = self._tokenize(inputs)
        if self.output_mode == "int":
            # the mask token "" (an empty document with split=None) is padding, index 0; unknown tokens are 1
            indices = [[0 if token == MASK_TOKEN else self._index.get(token, 1) for token in tokens]
                       for tokens in token_lists]
            length = self.output_sequence_length
            if length is None:
                length = max((len(row) for row in indices), default=0)
            output = np.zeros((len(indices), length), dtype=np.int64)
            for position, row in enumerate(indices):
                row = row[:length]
                output[position, :len(row)] = row
            return F.tensor(output)
        if self.output_mode == "tf_idf" and self._idf_weights is None:
            raise ValueError(f"TextVectorization '{self.name}': tf_idf output needs idf weights: adapt the layer or "
                             "give vocabulary and idf_weights")
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        output = np.zeros((len(token_lists), depth), dtype=np.float32)
        for position, tokens in enumerate(token_lists):
            # unknown tokens count at index 0; the mask token "" is not counted
            row = [self._index.get(token, 0) for token in tokens if token != MASK_TOKEN]
            output[position] = np.bincount(np.asarray(row, dtype=np.int64), minlength=depth)[:depth]
        if self.output_mode == "multi_hot":
            output = (output > 0).astype(np.float32)
        elif self.output_mode == "tf_idf":
            weights = np.zeros(depth, np.float32)
            weights[:min(depth, len(self._idf_weights))] = self._idf_weights[:depth]
            output = output * weights
        return F.tensor(output)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        return (input_shape[0], depth)

    def get_config(self):
        return {
            **super().get_config(), "max_tokens": self.max_tokens,
            "standardize": self.standardize, "split": self.split,
            "ngrams": list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
            "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": self.get_vocabulary() if self._tokens else None,
            "idf_weights": self._idf_weights.tolist() if self._idf_weights is not None and self._tokens else None,
            "encoding": self.encoding,
        }


def _flat_strings(vocabulary) -> list:
    if isinstance(vocabulary, Tensor):
        vocabulary = vocabulary.numpy()
    return list(np.asarray(vocabulary, dtype=object).reshape(-1))
