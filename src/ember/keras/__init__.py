"""The Keras dialect of Ember: code written for ``tf.keras`` runs after replacing ``tf.keras`` with
``ember.keras`` (and ``tf.data`` with ``ember.data``).

    from ember import keras
    model = keras.Sequential([keras.layers.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, validation_data=(x_test, y_test))
"""
from . import config, activations, initializers, regularizers, layers, losses, metrics, optimizers, callbacks, utils
from . import models
from . import ops
from . import distribution
from . import datasets
from .layers import Input
from .models import Model, Sequential

backend = utils  # ``keras.backend.clear_session()``
__version__ = "3.15.1+ember"  # the Keras API this dialect follows, then where it comes from

__all__ = [
    "config", "activations", "initializers", "regularizers", "layers", "losses", "metrics", "optimizers", "callbacks",
    "utils", "models", "Input", "Model", "Sequential", "backend", "ops", "distribution", "datasets", "__version__",
]
