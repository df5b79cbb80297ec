"""Does a diffusion model draw the digit it is asked for? Sample it, and let an MNIST classifier read the digits.

The judge is the MNIST codelab's batch-norm convnet (``ember.tutorials.mnist_codelab``), trained with Ember
and saved as a ``.keras`` file. The score is the share of guided samples that the judge reads as the prompted
digit, over every digit and every evaluation phrasing.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .text import EVALUATION_TEMPLATES, prompt_for


def train_digit_classifier(path, epochs: int = 5, data_dir=None, seed: int = 0, verbose: int = 2) -> float:
    """Train the codelab's batch-norm convnet on MNIST for ``epochs`` epochs, save it to ``path`` (a ``.keras``
    file) and return its test accuracy (10,000 images)."""
    from .. import keras
    from ..tutorials import mnist_codelab as codelab

    keras.utils.set_random_seed(seed)
    files = codelab.mnist_files(data_dir)
    training = codelab.get_training_dataset(files["train_images"], files["train_labels"], 64)
    validation = codelab.get_validation_dataset(files["test_images"], files["test_labels"])
    model = codelab.batchnorm_convnet()
    schedule = keras.callbacks.LearningRateScheduler(codelab.lr_decay_batchnorm, verbose=0)
    history = model.fit(training, steps_per_epoch=60000 // 64, epochs=epochs, validation_data=validation,
                        validation_steps=1, callbacks=[schedule], verbose=verbose)
    model.save(str(path))
    return float(history.history["val_accuracy"][-1])


def classify_digits(classifier, images: np.ndarray) -> np.ndarray:
    """Digits (N,) int64 that ``classifier`` (the codelab convnet) reads in ``images`` (N, 1, 28, 28) in [-1, 1]."""
    flat = ((np.asarray(images, dtype=np.float32).reshape(len(images), 28 * 28) + 1.0) * 0.5).clip(0.0, 1.0)
    return np.asarray(classifier.predict(flat * (255.0 / 256.0), verbose=0)).argmax(axis=1).astype(np.int64)


def recognition_rate(model, classifier, samples_per_prompt: int = 10, steps: int = 50, sampler: str = "ddim",
                     guidance: float = 2.0, templates=EVALUATION_TEMPLATES, seed: int = 0,
                     progress: bool = True) -> dict:
    """Sample ``samples_per_prompt`` images for every digit and every template, classify them, and return
    ``{"rate", "per_digit", "count", "seconds"}`` (``rate``: the share read as the prompted digit).

    ``model`` is a :class:`~ember.diffusion.model.DiffusionModel`; ``classifier`` a Keras model with the
    codelab's input (N, 784) in [0, 1)."""
    from .. import manual_seed

    manual_seed(seed)
    correct = np.zeros(10, dtype=np.int64)
    total = np.zeros(10, dtype=np.int64)
    start = time.perf_counter()
    for digit in range(10):
        prompts = [prompt_for(digit, template) for template in templates]
        images = model.sample(prompts * samples_per_prompt, steps=steps, sampler=sampler, guidance=guidance,
                              progress=progress)
        read = classify_digits(classifier, images)
        correct[digit] += int((read == digit).sum())
        total[digit] += len(read)
    return {"rate": float(correct.sum() / total.sum()), "count": int(total.sum()),
            "per_digit": [float(c / t) if t else math.nan for c, t in zip(correct, total)],
            "seconds": time.perf_counter() - start}


def load_classifier(path):
    """The ``.keras`` classifier saved by :func:`train_digit_classifier`."""
    from ..keras.models import load_model

    if not Path(path).exists():
        raise FileNotFoundError(f"ember.diffusion: no classifier at {str(path)!r}; train one with "
                                f"train_digit_classifier(path) or benchmarks/diffusion_eval.py --train-classifier")
    return load_model(str(path))
