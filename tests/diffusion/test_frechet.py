"""The Fréchet distance against closed forms and a direct square root, and the classifier's feature layer."""
import numpy as np
import pytest

import ember
from ember.diffusion import classifier_features, classify_digits, feature_statistics, frechet_distance


def _with_statistics(rng, mean, covariance, n):
    """n samples whose sample mean and (unbiased) covariance are exactly ``mean`` and ``covariance``."""
    raw = rng.standard_normal((n, len(mean)))
    raw -= raw.mean(axis=0)
    whitened = raw @ np.linalg.inv(np.linalg.cholesky(np.cov(raw, rowvar=False))).T
    return whitened @ np.linalg.cholesky(covariance).T + mean


def test_identical_sets_are_at_distance_zero():
    features = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_diagonal_gaussians_match_the_closed_form():
    rng = np.random.default_rng(1)
    mean_a, mean_b = rng.standard_normal(6), rng.standard_normal(6)
    variance_a, variance_b = rng.uniform(0.2, 3.0, 6), rng.uniform(0.2, 3.0, 6)
    a = _with_statistics(rng, mean_a, np.diag(variance_a), 400)
    b = _with_statistics(rng, mean_b, np.diag(variance_b), 300)
    np.testing.assert_allclose(feature_statistics(a)[1], np.diag(variance_a), atol=1e-10)
    # with diagonal covariances the distance is a sum over dimensions: (μa - μb)² + (σa - σb)²
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(variance_a) - np.sqrt(variance_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_shifted_copy_is_the_squared_shift():
    a = np.random.default_rng(2).standard_normal((200, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_symmetric():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8))
    b = rng.standard_normal((250, 8)) * 2.0 + 1.0
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 1.0


def test_against_an_explicit_square_root():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((60, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((80, 5)) @ rng.standard_normal((5, 5)) + 0.3
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # (Σa Σb)^½ from the (non-symmetric) eigen-decomposition of the product itself
    values, vectors = np.linalg.eig(cov_a @ cov_b)
    root = (vectors * np.sqrt(values.astype(complex))) @ np.linalg.inv(vectors)
    np.testing.assert_allclose(root @ root, cov_a @ cov_b, atol=1e-8)
    expected = (mean_a - mean_b) @ (mean_a - mean_b) + np.trace(cov_a + cov_b - 2.0 * root.real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_rank_deficient_covariances_stay_finite():
    rng = np.random.default_rng(5)
    a = np.concatenate([rng.standard_normal((50, 3)), np.zeros((50, 2))], axis=1)  # two constant features
    b = rng.standard_normal((40, 5))
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance > 0.0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_clear_errors():
    a = np.zeros((10, 4))
    with pytest.raises(ValueError, match=r"feature widths differ: features_a \(10, 4\), features_b \(10, 5\)"):
        frechet_distance(a + np.arange(4), np.ones((10, 5)))
    with pytest.raises(ValueError, match=r"features_b needs at least 2 samples.*received 1"):
        frechet_distance(a, np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"features_a must be \(N, D\), received shape \(10,\)"):
        frechet_distance(np.zeros(10), a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_distance(np.full((3, 4), np.nan), a)


def _small_convnet():
    """A codelab-shaped classifier, small: Reshape, conv/BN/ReLU, Flatten, Dense/BN/ReLU, Dropout, Dense."""
    from ember import keras

    ember.manual_seed(0)
    model = keras.Sequential([
        keras.layers.Reshape(input_shape=(28 * 28,), target_shape=(28, 28, 1)),
        keras.layers.Conv2D(filters=4, kernel_size=3, padding="same", use_bias=False, strides=2),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(12, use_bias=False),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((64, 784), dtype=np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)],
              epochs=1, batch_size=16, verbose=0)  # moving statistics away from their initial values
    return model


def test_classifier_features_are_what_the_last_dense_layer_reads():
    model = _small_convnet()
    images = np.random.default_rng(6).uniform(-1.0, 1.0, (7, 1, 28, 28)).astype(np.float32)
    model.train()
    features = classifier_features(model, images, batch_size=3)  # batches of 3, 3, 1
    assert model.training  # the mode it was in is restored
    assert features.shape == (7, 12) and features.dtype == np.float32 and (features >= 0).all()
    last = model.layers[-1]
    kernel = np.asarray(last.kernel.numpy())
    bias = np.asarray(last.bias.numpy())
    logits = features @ kernel + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    flat = ((images.reshape(7, 784) + 1.0) * 0.5).clip(0.0, 1.0) * (255.0 / 256.0)
    np.testing.assert_allclose(probabilities, model.predict(flat, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(classify_digits(model, images), probabilities.argmax(axis=1))
    np.testing.assert_allclose(classifier_features(model, images), features, atol=1e-6)  # one batch of 7


def test_classifier_features_refuse_models_without_dense_and_wrong_images():
    from ember import keras

    model = keras.Sequential([keras.layers.Reshape(input_shape=(784,), target_shape=(28, 28, 1)),
                              keras.layers.Flatten()])
    with pytest.raises(ValueError, match="has no Dense layer"):
        classifier_features(model, np.zeros((2, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"reads images \(N, 1, 28, 28\), received shape \(2, 1, 14, 14\)"):
        classifier_features(_small_convnet(), np.zeros((2, 1, 14, 14), dtype=np.float32))
