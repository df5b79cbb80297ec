"""keras.layers.TextVectorization against the behaviour Keras documents.

These tests check, on small corpora, what Keras's
documentation (https://keras.io/api/layers/preprocessing_layers/text/text_vectorization/, and the docstring
of keras/src/layers/preprocessing/text_vectorization.py in Keras 3.15) states: its two worked examples
verbatim, the vocabulary order (special tokens "" and "[UNK]" first in int mode, then tokens by descending
frequency, ties broken by descending string as Keras's ``np.lexsort(...)[::-1]`` orders them), padding and
truncation to ``output_sequence_length``, the multi_hot/count/tf_idf encodings with the documented idf
``log(1 + num_documents / (1 + document_count))`` and the mean weight for out-of-vocabulary tokens, n-grams,
character splitting and the argument checks. tests/tensorflow/test_against_tensorflow.py compares eight
configurations with numbers from Keras 3.15.1 running on TensorFlow 2.21.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember import keras

CORPUS = ["The cat sat.", "the DOG sat", "the cat"]


def test_documented_example_adapt_then_int_output():
    layer = keras.layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    output = layer([["foo qux bar"], ["qux baz"]])
    assert output.dtype == ember.int64
    np.testing.assert_array_equal(output.numpy(), [[4, 1, 3, 0], [1, 2, 0, 0]])
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    assert layer.vocabulary_size() == 7


def test_documented_example_given_vocabulary():
    layer = keras.layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4,
                                           vocabulary=["earth", "wind", "and", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    # "&" is punctuation: stripped, it leaves no token
    np.testing.assert_array_equal(layer(["Earth, wind & fire!", "wind and water"]).numpy(),
                                  [[2, 3, 5, 0], [3, 4, 1, 0]])
    with pytest.raises(ValueError, match="cannot adapt a layer whose vocabulary was given"):
        layer.adapt(["more text"])


def test_vocabulary_order_standardization_and_max_tokens():
    layer = keras.layers.TextVectorization()
    layer.adapt(CORPUS)
    # the: 3, then cat and sat (2 each: "sat" > "cat" comes first), then dog
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "cat", "dog"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["the", "sat", "cat", "dog"]
    capped = keras.layers.TextVectorization(max_tokens=4)
    capped.adapt(CORPUS)
    assert capped.get_vocabulary() == ["", "[UNK]", "the", "sat"]
    # without output_sequence_length, pad to the longest document of the batch
    np.testing.assert_array_equal(capped(["the cat", "sat  the\tthe  sat"]).numpy(), [[2, 1, 0, 0], [3, 2, 2, 3]])
    lower_only = keras.layers.TextVectorization(standardize="lower")
    lower_only.adapt(["Hi, hi"])
    assert lower_only.get_vocabulary() == ["", "[UNK]", "hi,", "hi"]
    untouched = keras.layers.TextVectorization(standardize=None)
    untouched.adapt(["Hi hi hi"])
    assert untouched.get_vocabulary() == ["", "[UNK]", "hi", "Hi"]


def test_padding_and_truncation_to_output_sequence_length():
    layer = keras.layers.TextVectorization(output_sequence_length=3, vocabulary=["a", "b", "c"])
    np.testing.assert_array_equal(layer(["a b c a b", "c", ""]).numpy(), [[2, 3, 4], [4, 0, 0], [0, 0, 0]])
    assert layer(np.array([["b a"]])).shape == (1, 3)


def test_multi_hot_count_and_tf_idf():
    vocabulary = ["[UNK]", "the", "sat", "cat", "dog"]
    for mode in ("multi_hot", "count", "tf_idf"):
        layer = keras.layers.TextVectorization(output_mode=mode)
        layer.adapt(CORPUS)
        assert layer.get_vocabulary() == vocabulary
        output = layer(["the cat the bird", "dog"])
        assert output.dtype == ember.float32 and output.shape == (2, 5)
        counts = np.array([[1, 2, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=np.float32)
        if mode == "multi_hot":
            np.testing.assert_array_equal(output.numpy(), counts > 0)
        elif mode == "count":
            np.testing.assert_array_equal(output.numpy(), counts)
        else:
            documents_with = {"the": 3, "sat": 2, "cat": 2, "dog": 1}
            idf = [math.log(1 + 3 / (1 + documents_with[token])) for token in vocabulary[1:]]
            weights = np.array([np.mean(idf)] + idf, dtype=np.float32)
            np.testing.assert_allclose(output.numpy(), counts * weights, rtol=1e-6)


def test_pad_to_max_tokens_and_given_idf_weights():
    layer = keras.layers.TextVectorization(output_mode="count", max_tokens=8, pad_to_max_tokens=True)
    layer.adapt(CORPUS)
    np.testing.assert_array_equal(layer(["dog dog"]).numpy(), [[0, 0, 0, 0, 2, 0, 0, 0]])
    tf_idf = keras.layers.TextVectorization(output_mode="tf_idf", vocabulary=["x", "y"], idf_weights=[2.0, 4.0])
    assert tf_idf.get_vocabulary() == ["[UNK]", "x", "y"]
    np.testing.assert_allclose(tf_idf(["y y z x"]).numpy(), [[3.0, 2.0, 8.0]])
    with pytest.raises(ValueError, match="idf_weights must be set"):
        keras.layers.TextVectorization(output_mode="tf_idf", vocabulary=["x"])
    with pytest.raises(ValueError, match="idf_weights can only be set"):
        keras.layers.TextVectorization(vocabulary=["x"], idf_weights=[1.0])


def test_ngrams():
    layer = keras.layers.TextVectorization(ngrams=2)
    layer.adapt(["a b c"])
    assert sorted(layer.get_vocabulary(include_special_tokens=False)) == ["a", "a b", "b", "b c", "c"]
    index = {token: i for i, token in enumerate(layer.get_vocabulary())}
    # width by width: the 1-grams, then the 2-grams
    np.testing.assert_array_equal(layer(["a b c"]).numpy(),
                                  [[index["a"], index["b"], index["c"], index["a b"], index["b c"]]])
    only_pairs = keras.layers.TextVectorization(ngrams=(2,), vocabulary=["a b"])
    np.testing.assert_array_equal(only_pairs(["a b a", "a"]).numpy(), [[2, 1], [0, 0]])


def test_character_split_for_character_level_models():
    text = "First Citizen: Before we proceed"
    layer = keras.layers.TextVectorization(split="character", standardize=None)
    layer.adapt([text])
    vocabulary = layer.get_vocabulary()
    assert " " in vocabulary and "F" in vocabulary and ":" in vocabulary
    assert vocabulary[2] == "e"  # the most frequent character (5 times)
    ids = layer([text]).numpy()[0]
    assert "".join(vocabulary[i] for i in ids) == text


def test_adapt_from_a_dataset_and_steps():
    dataset = ember.data.Dataset.from_tensor_slices(np.array(["a b", "b c", "c c", "d d d d"])).batch(2)
    layer = keras.layers.TextVectorization()
    layer.adapt(dataset)
    assert layer.get_vocabulary() == ["", "[UNK]", "d", "c", "b", "a"]
    first_batch_only = keras.layers.TextVectorization()
    first_batch_only.adapt(dataset, steps=1)
    assert first_batch_only.get_vocabulary() == ["", "[UNK]", "b", "c", "a"]
    vectorized = dataset.map(layer)
    assert [batch.shape for batch in vectorized] == [(2, 2), (2, 4)]


def test_set_vocabulary_file_and_callables(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_text("\n[UNK]\nred\ngreen\n", encoding="utf-8")
    layer = keras.layers.TextVectorization()
    layer.set_vocabulary(str(path))
    assert layer.get_vocabulary() == ["", "[UNK]", "red", "green"]
    np.testing.assert_array_equal(layer(["Green, RED blue"]).numpy(), [[3, 2, 1]])
    custom = keras.layers.TextVectorization(standardize=lambda texts: np.char.upper(texts),
                                            split=lambda texts: [text.split("-") for text in texts])
    custom.adapt(["a-b-a"])
    assert custom.get_vocabulary() == ["", "[UNK]", "A", "B"]


def test_vectorized_text_trains_a_model():
    ember.manual_seed(0)
    texts = ["good great fine", "bad awful poor", "great good", "awful bad", "fine good", "poor bad"] * 4
    labels = np.array([1, 0, 1, 0, 1, 0] * 4, dtype=np.float32)
    vectorize = keras.layers.TextVectorization(output_sequence_length=3)
    vectorize.adapt(texts)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Embedding(vectorize.vocabulary_size(), 8,
                                                                        mask_zero=True),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(vectorize(texts).numpy(), labels, epochs=10, batch_size=6, verbose=0)
    assert history.history["accuracy"][-1] == 1.0


def test_bad_arguments_and_inputs_are_explained():
    with pytest.raises(ValueError, match="output_mode must be one of"):
        keras.layers.TextVectorization(output_mode="one_hot")
    with pytest.raises(ValueError, match="output_sequence_length can only be set with output_mode='int'"):
        keras.layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="split must be"):
        keras.layers.TextVectorization(split="comma")
    with pytest.raises(ValueError, match="ngrams must be"):
        keras.layers.TextVectorization(ngrams=0)
    layer = keras.layers.TextVectorization(vocabulary=["a"], name="tv")
    with pytest.raises(ValueError, match=r"TextVectorization 'tv'.*\(batch, 1\), received shape \(2, 2\)"):
        layer(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(TypeError, match="received one string"):
        layer("a b")
    with pytest.raises(TypeError, match="expected strings, received int"):
        layer([1, 2])
    with pytest.raises(ValueError, match="repeats"):
        layer.set_vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="exceeds max_tokens=3"):
        keras.layers.TextVectorization(max_tokens=3, vocabulary=["a", "b"])


def test_config_round_trip():
    layer = keras.layers.TextVectorization(max_tokens=10, ngrams=(1, 2), output_mode="tf_idf")
    layer.adapt(CORPUS)
    clone = keras.layers.TextVectorization.from_config(layer.get_config())
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_allclose(clone(["the cat sat"]).numpy(), layer(["the cat sat"]).numpy())
