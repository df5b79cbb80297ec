"""Does a diffusion model draw the digit it is asked for? Sample it, and let an MNIST classifier read the digits.

The judge is the MNIST codelab's batch-norm convnet (``ember.tutorials.mnist_codelab``), trained with Ember
and saved as a ``.keras`` file. The score is the share of guided samples that the judge reads as the prompted
digit, over every digit and every evaluation phrasing.

The Fréchet distance compares the samples with real digits as a whole: the judge's penultimate-layer features
(the 200 activations its last Dense layer reads) of the samples and of the MNIST test set, each summarised by
its mean and covariance, as the FID does with Inception features.
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


def _classifier_inputs(images: np.ndarray) -> np.ndarray:
    """Images (N, 1, 28, 28) in [-1, 1] as the codelab classifier's input: (N, 784) float32 in [0, 1)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2 or images[0].size != 28 * 28:
        raise ValueError(f"ember.diffusion: the MNIST classifier reads images (N, 1, 28, 28), received shape "
                         f"{images.shape}")
    flat = ((images.reshape(len(images), 28 * 28) + 1.0) * 0.5).clip(0.0, 1.0)
    return flat * (255.0 / 256.0)


def classify_digits(classifier, images: np.ndarray) -> np.ndarray:
    """Digits (N,) int64 that ``classifier`` (the codelab convnet) reads in ``images`` (N, 1, 28, 28) in [-1, 1]."""
    return np.asarray(classifier.predict(_classifier_inputs(images), verbose=0)).argmax(axis=1).astype(np.int64)


def classifier_features(classifier, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The penultimate-layer activations of ``classifier`` for ``images`` (N, 1, 28, 28) in [-1, 1]: the input
    of its last Dense layer, (N, 200) float32 for the codelab convnet, in inference mode (batch norm with its
    moving statistics, no dropout). ``classifier`` is a Keras ``Sequential`` ending in a Dense layer; it is
    run layer by layer up to that layer and is not changed."""
    from .. import functions as _functions
    from ..autograd.grad_mode import no_grad
    from ..keras.layers import Dense
    from ..keras.models import _call_layer

    layers = list(classifier.layers)
    last_dense = max((index for index, layer in enumerate(layers) if isinstance(layer, Dense)), default=None)
    if last_dense is None:
        raise ValueError(f"classifier_features: the classifier {getattr(classifier, 'name', '')!r} has no Dense "
                         f"layer; its layers are {[type(layer).__name__ for layer in layers]}")
    inputs = _classifier_inputs(images)
    was_training = classifier.training
    classifier.eval()
    chunks = []
    try:
        with no_grad():
            for start in range(0, len(inputs), batch_size):
                x = _functions.tensor(inputs[start:start + batch_size])
                for layer in layers[:last_dense]:
                    x = _call_layer(layer, x, False)
                values = np.asarray(x.numpy(), dtype=np.float32)
                chunks.append(values.reshape(len(values), -1))
    finally:
        classifier.train(was_training)
    width = chunks[0].shape[1] if chunks else 0
    return np.concatenate(chunks) if chunks else np.zeros((0, width), dtype=np.float32)


def feature_statistics(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) (unbiased, N - 1) of ``features`` (N, D), in float64; N ≥ 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"frechet_distance: {name} must be (N, D), received shape {features.shape}")
    if len(features) < 2:
        raise ValueError(f"frechet_distance: {name} needs at least 2 samples for a covariance, received "
                         f"{len(features)}")
    if not np.isfinite(features).all():
        raise ValueError(f"frechet_distance: {name} hold NaN or infinite values")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix, through its eigen-decomposition (tiny
    negative eigenvalues from rounding are clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) * 0.5)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (N_a, D) and (N_b, D):
    ‖μa - μb‖² + Tr(Σa + Σb - 2 (Σa Σb)^½), in float64.

    Tr((Σa Σb)^½) is the sum of the square roots of the eigenvalues of the symmetric Σa^½ Σb Σa^½ (the same
    eigenvalues as Σa Σb), with tiny negative eigenvalues from rounding clipped to 0; a total that rounding
    leaves below 0 (identical sets) is returned as 0. Each set needs at least 2 samples and both the same
    width D."""
    mean_a, covariance_a = feature_statistics(features_a, "features_a")
    mean_b, covariance_b = feature_statistics(features_b, "features_b")
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"frechet_distance: the feature widths differ: features_a {np.shape(features_a)}, "
                         f"features_b {np.shape(features_b)}")
    root_a = _symmetric_sqrt(covariance_a)
    product = root_a @ covariance_b @ root_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) * 0.5)
    trace_root = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    difference = mean_a - mean_b
    distance = float(difference @ difference + np.trace(covariance_a) + np.trace(covariance_b) - 2.0 * trace_root)
    return max(distance, 0.0)


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
