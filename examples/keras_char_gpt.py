"""A character-level GPT on tiny Shakespeare written as Keras 3 code: nanoGPT's model in the Keras dialect.

The model is the one of ``examples/char_gpt.py`` (nanoGPT's design, PyTorch dialect) written as a Keras user
writes it: a subclassed ``keras.Model`` of pre-LayerNorm blocks (``layers.LayerNormalization``,
``layers.MultiHeadAttention`` called with ``use_causal_mask=True``, a 4x ``Dense`` MLP with GELU), learned
positions (``layers.Embedding``), the token embedding tied to the output head, N(0, 0.02) initialisation with
the residual projections at 0.02 / sqrt(2 * n_layer), no biases (nanoGPT's default). Training is
``model.fit`` on a ``tf.data``-style pipeline of random windows of the text (``ember.data``), with
``keras.optimizers.AdamW`` (weight decay 0.1 on the matrices only, betas (0.9, 0.99), global norm clipping at
1.0) following a ``CosineDecay`` schedule with linear warm-up. Then the validation loss is measured on 200
batches and a sample is generated from a prompt with temperature and top-k::

    EMBER_DATA=/path/to/data python examples/keras_char_gpt.py                  # 2000 steps, nanoGPT's CPU setup
    python examples/keras_char_gpt.py --steps 200 --prompt "ROMEO:" --data-dir /path/to/data

Tiny Shakespeare is read from ``$EMBER_DATA/tinyshakespeare/input.txt`` (or ``--data-dir``).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

# --- the lines that differ from the Keras / TensorFlow original ----------------------------------------
from ember import keras                                  # import keras
from ember.keras import layers, ops                      # from keras import layers, ops
from ember.data import Dataset                           # from tensorflow.data import Dataset
from ember.datasets import TinyShakespeare               # nanoGPT's prepare.py: characters, 90% / 10% split
# ---------------------------------------------------------------------------------------------------------


class Block(layers.Layer):
    """A pre-LayerNorm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``; ``(B, T, C)`` in
    and out, attention causal over the T positions."""

    def __init__(self, n_embd: int, n_head: int, n_layer: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if n_embd % n_head != 0:
            raise ValueError(f"Block: n_embd {n_embd} is not a multiple of n_head {n_head}")
        normal = keras.initializers.RandomNormal(stddev=0.02)
        # GPT-2's scaled initialisation of the projections that end on the residual stream
        self.residual_initializer = keras.initializers.RandomNormal(stddev=0.02 / math.sqrt(2 * n_layer))
        self.ln_1 = layers.LayerNormalization(epsilon=1e-5, center=False)  # PyTorch's epsilon, no bias
        self.attn = layers.MultiHeadAttention(n_head, key_dim=n_embd // n_head, dropout=dropout, use_bias=False,
                                              kernel_initializer=normal)
        self.attn_dropout = layers.Dropout(dropout)
        self.ln_2 = layers.LayerNormalization(epsilon=1e-5, center=False)
        self.fc = layers.Dense(4 * n_embd, activation="gelu", use_bias=False, kernel_initializer=normal)
        self.proj = layers.Dense(n_embd, use_bias=False, kernel_initializer=self.residual_initializer)
        self.mlp_dropout = layers.Dropout(dropout)

    def build(self, input_shape):
        self.attn.build(input_shape, input_shape)
        # MultiHeadAttention has one kernel_initializer; its output projection (the last weight) is residual
        weights = self.attn.get_weights()
        weights[-1] = self.residual_initializer(weights[-1].shape)
        self.attn.set_weights(weights)

    def call(self, x, training=None):
        h = self.ln_1(x)
        x = x + self.attn_dropout(self.attn(h, h, use_causal_mask=True, training=training), training=training)
        return x + self.mlp_dropout(self.proj(self.fc(self.ln_2(x))), training=training)


class GPT(keras.Model):
    """Character ids ``(B, T)`` (T <= block_size) → next-character logits ``(B, T, vocab_size)``."""

    def __init__(self, vocab_size: int, block_size: int = 64, n_layer: int = 4, n_head: int = 4, n_embd: int = 128,
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size
        normal = keras.initializers.RandomNormal(stddev=0.02)
        self.tok = layers.Embedding(vocab_size, n_embd, embeddings_initializer=normal)
        self.pos = layers.Embedding(block_size, n_embd, embeddings_initializer=normal)
        self.drop = layers.Dropout(dropout)
        self.blocks = [Block(n_embd, n_head, n_layer, dropout, name=f"block_{i}") for i in range(n_layer)]
        self.ln_f = layers.LayerNormalization(epsilon=1e-5, center=False)

    def call(self, ids, training=None):
        steps = ops.shape(ids)[1]
        if steps > self.block_size:
            raise ValueError(f"GPT: received {steps} positions, the position table holds block_size "
                             f"{self.block_size}")
        x = self.drop(self.tok(ids) + self.pos(ops.arange(steps)), training=training)
        for block in self.blocks:
            x = block(x, training=training)
        x = self.ln_f(x)
        return ops.matmul(x, ops.transpose(self.tok.embeddings))  # the output head is the token embedding


def random_windows(data: np.ndarray, block_size: int, batch_size: int, batches: int, seed: int) -> Dataset:
    """``batches`` batches of ``(x, y)``, each ``(batch_size, block_size)`` int64: windows of ``block_size + 1``
    characters starting at uniformly drawn places of ``data`` (as nanoGPT's ``get_batch``), ``y`` the
    characters that follow ``x``; repeated forever."""
    starts = np.random.default_rng(seed).integers(0, len(data) - block_size, size=batches * batch_size)
    text = data.astype(np.int64)

    def window(start):
        return text[start:start + block_size + 1]

    def split_input_target(chunk):
        return chunk[:, :-1], chunk[:, 1:]

    return (Dataset.from_tensor_slices(starts).map(window).batch(batch_size, drop_remainder=True)
            .map(split_input_target).repeat())


class StepTimer(keras.callbacks.Callback):
    """Records the seconds of every training step (forward, backward, optimizer)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build_and_compile(vocab_size: int, args) -> GPT:
    """The model, compiled with AdamW on nanoGPT's schedule: linear warm-up to ``learning_rate`` over
    ``warmup_steps``, then cosine decay to ``min_lr`` over the remaining ``steps - warmup_steps``."""
    model = GPT(vocab_size, args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=args.steps - args.warmup_steps, alpha=args.min_lr / args.learning_rate,
        warmup_target=args.learning_rate, warmup_steps=args.warmup_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=args.weight_decay, beta_1=0.9,
                                       beta_2=0.99, epsilon=1e-8, global_clipnorm=args.grad_clip)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "embeddings"])
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def generate(model: GPT, ids: np.ndarray, max_new_tokens: int, temperature: float = 0.8, top_k: int | None = 200,
             seed: int | None = None) -> np.ndarray:
    """``ids`` ``(T,)`` followed by ``max_new_tokens`` characters drawn from ``softmax(logits / temperature)``
    over the ``top_k`` most likely; the model sees the last ``block_size`` ids."""
    if temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0, received {temperature}")
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    for _ in range(max_new_tokens):
        context = ops.convert_to_tensor(ids[None, -model.block_size:])
        logits = model(context, training=False)[:, -1, :] / temperature  # (1, vocab)
        if top_k is not None and top_k < ops.shape(logits)[-1]:
            kth_largest = ops.top_k(logits, top_k)[0][:, -1:]
            logits = ops.where(logits < kth_largest, -math.inf, logits)
        probabilities = ops.convert_to_numpy(ops.softmax(logits))[0].astype(np.float64)
        ids = np.append(ids, rng.choice(probabilities.size, p=probabilities / probabilities.sum()))
    return ids


def train(args, corpus: TinyShakespeare | None = None) -> dict:
    """Train for ``args.steps`` steps, evaluate the validation loss on ``args.eval_batches`` batches and draw a
    sample; returns the losses, the seconds per step and the sample."""
    keras.utils.set_random_seed(args.seed)
    corpus = corpus if corpus is not None else TinyShakespeare(args.data_dir)
    model = build_and_compile(corpus.vocab_size, args)
    train_windows = random_windows(corpus.train_data, args.block_size, args.batch_size, args.steps, args.seed)
    val_windows = random_windows(corpus.val_data, args.block_size, args.batch_size, args.eval_batches,
                                 args.seed + 1)
    timer = StepTimer()
    epochs = max(1, args.steps // args.eval_interval)
    history = model.fit(train_windows, epochs=epochs, steps_per_epoch=args.steps // epochs,
                        validation_data=val_windows, validation_steps=args.eval_iters, callbacks=[timer],
                        verbose=args.verbose)
    val_loss = float(model.evaluate(val_windows, steps=args.eval_batches, verbose=0))
    train_loss = float(model.evaluate(train_windows, steps=args.eval_batches, verbose=0))
    seconds = np.asarray(timer.seconds)
    print(f"{model.count_params():,} parameters; after {len(seconds)} steps: train loss {train_loss:.4f}, "
          f"val loss {val_loss:.4f} ({args.eval_batches} batches each); median step {np.median(seconds) * 1e3:.1f} "
          f"ms, mean {seconds.mean() * 1e3:.1f} ms", flush=True)
    sample = ""
    if args.max_new_tokens:
        ids = generate(model, corpus.encode(args.prompt), args.max_new_tokens, args.temperature, args.top_k,
                       seed=args.seed)
        sample = corpus.decode(ids)
        print(sample)
    return {"model": model, "history": history.history, "train_loss": train_loss, "val_loss": val_loss,
            "step_seconds": seconds, "sample": sample}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default in (
        ("--steps", int, 2000), ("--eval-interval", int, 250), ("--eval-iters", int, 20),
        ("--eval-batches", int, 200), ("--batch-size", int, 12), ("--block-size", int, 64), ("--n-layer", int, 4),
        ("--n-head", int, 4), ("--n-embd", int, 128), ("--dropout", float, 0.0), ("--learning-rate", float, 1e-3),
        ("--min-lr", float, 1e-4), ("--warmup-steps", int, 100), ("--weight-decay", float, 0.1),
        ("--grad-clip", float, 1.0), ("--seed", int, 1337), ("--max-new-tokens", int, 500),
        ("--temperature", float, 0.8), ("--top-k", int, 200), ("--verbose", int, 2),
    ):
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--prompt", default="\n", help="text the sample continues")
    parser.add_argument("--data-dir", default=None, help="data root holding tinyshakespeare/")
    return parser.parse_args(argv)


if __name__ == "__main__":
    train(parse_arguments())
