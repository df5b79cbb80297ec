"""Prompts: a fixed word tokenizer, the phrasings a digit is trained with, and a small transformer text encoder.

A prompt is a short English text naming one digit: ``"7"``, ``"seven"``, ``"a handwritten seven"``,
``"the digit 7"``. Words are lower-cased and split on anything that is not a letter or a digit; each digit
character is a token of its own. A word outside :data:`VOCABULARY` is refused with a clear error.
"""
from __future__ import annotations

import re

import numpy as np

from .. import functions as _functions
from .. import nn
from ..autograd.tensor import Tensor

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# {d}: the digit character, {w}: its English name; "a"/"an" is chosen by the word that follows
TRAINING_TEMPLATES = (
    "{d}", "{w}", "the digit {d}", "the digit {w}", "a handwritten {w}", "a handwritten {d}", "the number {w}",
    "the number {d}", "a {w}", "a {d}", "number {d}", "digit {w}", "an image of a {w}", "a picture of the digit {d}",
    "draw a {w}", "write the number {w}", "a {w} written by hand", "handwritten digit {d}",
)
EVALUATION_TEMPLATES = ("the digit {d}", "a handwritten {w}")

PAD = "<pad>"
VOCABULARY = (PAD, *(str(d) for d in range(10)), *DIGIT_WORDS,
              "a", "an", "the", "digit", "number", "handwritten", "image", "picture", "drawing", "of", "draw",
              "write", "written", "by", "hand", "please", "me", "show", "sketch")
MAX_TOKENS = 8
_INDEX = {word: index for index, word in enumerate(VOCABULARY)}
_WORD = re.compile(r"[a-z]+|[0-9]")


def prompt_for(digit: int, template: str) -> str:
    """``template`` filled in for ``digit`` ("a {w}" → "an eight" for 8)."""
    text = template.format(d=digit, w=DIGIT_WORDS[digit])
    return re.sub(r"\ba (eight|8)\b", r"an \1", text)


def tokenize(prompt: str, max_tokens: int = MAX_TOKENS) -> list:
    """Token ids of ``prompt`` (at most ``max_tokens``); ValueError for an empty prompt, an unknown word or
    too many words."""
    if not isinstance(prompt, str):
        raise TypeError(f"tokenize: a prompt must be a str, received {type(prompt).__name__}")
    words = _WORD.findall(prompt.lower())
    if not words:
        raise ValueError(f"tokenize: the prompt {prompt!r} has no words; name a digit, e.g. 'seven' or 'the digit 7'")
    unknown = [word for word in words if word not in _INDEX]
    if unknown:
        raise ValueError(f"tokenize: cannot encode {unknown} in the prompt {prompt!r}; known words: digits 0-9, "
                         f"{', '.join(VOCABULARY[11:])}")
    if len(words) > max_tokens:
        raise ValueError(f"tokenize: the prompt {prompt!r} has {len(words)} words, at most {max_tokens} fit")
    return [_INDEX[word] for word in words]


def encode_prompts(prompts, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Token ids (N, max_tokens) int64, padded with 0 (``<pad>``)."""
    ids = np.zeros((len(prompts), max_tokens), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        tokens = tokenize(prompt, max_tokens)
        ids[row, :len(tokens)] = tokens
    return ids


def random_prompts(labels: np.ndarray, rng: np.random.Generator) -> list:
    """One training phrasing per label, each drawn uniformly from :data:`TRAINING_TEMPLATES`."""
    choices = rng.integers(0, len(TRAINING_TEMPLATES), size=len(labels))
    return [prompt_for(int(label), TRAINING_TEMPLATES[c]) for label, c in zip(labels, choices)]


class TextEncoder(nn.Module):
    """Token embedding + learned positions → ``layers`` transformer encoder layers (pre-norm, GELU, no
    dropout) → mean over the prompt's tokens → Linear to ``output_dim``.

    Args:
        output_dim: width of the condition embedding (the UNet's ``embedding_dim``).
        width: model width (default 64), ``heads`` (default 4), ``layers`` (default 2).

    Shape: token ids (N, L) int64 with 0 as padding → (N, output_dim)."""

    def __init__(self, output_dim: int, width: int = 64, heads: int = 4, layers: int = 2,
                 max_tokens: int = MAX_TOKENS):
        super().__init__()
        self.max_tokens = max_tokens
        self.token_embedding = nn.Embedding(len(VOCABULARY), width)
        self.position_embedding = nn.Parameter(_functions.randn(1, max_tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.output = nn.Linear(width, output_dim)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.ndim != 2 or ids.shape[1] > self.max_tokens:
            raise ValueError(f"TextEncoder: expected token ids (N, L ≤ {self.max_tokens}), received shape "
                             f"{tuple(ids.shape)}")
        length = ids.shape[1]
        padding = ids == 0  # True where there is no token: attention ignores it
        h = self.token_embedding(ids) + self.position_embedding[:, :length]
        h = self.encoder(h, src_key_padding_mask=padding)
        present = (~padding).to(h.dtype)[:, :, None]
        pooled = (h * present).sum(dim=1) / present.sum(dim=1).clamp(min=1.0)
        return self.output(pooled)
