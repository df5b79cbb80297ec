"""The MNIST codelab's models, written as the codelab writes them (with ``tf.keras`` → ``keras``)."""
from ember import keras


def dense_softmax():
    return keras.Sequential([
        keras.layers.Input(shape=(28 * 28,)),
        keras.layers.Dense(10, activation="softmax"),
    ])


def five_layers(activation="sigmoid", dropout=None):
    layers = [keras.layers.Input(shape=(28 * 28,))]
    for units in (200, 100, 60, 30):
        layers.append(keras.layers.Dense(units, activation=activation))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def convnet(dropout=None):
    layers = [
        keras.layers.Reshape(input_shape=(28 * 28,), target_shape=(28, 28, 1)),
        keras.layers.Conv2D(kernel_size=3, filters=12, activation="relu", padding="same"),
        keras.layers.Conv2D(kernel_size=6, filters=24, activation="relu", padding="same", strides=2),
        keras.layers.Conv2D(kernel_size=6, filters=32, activation="relu", padding="same", strides=2),
        keras.layers.Flatten(),
        keras.layers.Dense(200, activation="relu"),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def batchnorm_convnet(dropout=0.3):
    return keras.Sequential([
        keras.layers.Reshape(input_shape=(28 * 28,), target_shape=(28, 28, 1)),
        keras.layers.Conv2D(filters=24, kernel_size=6, padding="same", use_bias=False),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Conv2D(filters=48, kernel_size=5, padding="same", use_bias=False, strides=2),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Conv2D(filters=64, kernel_size=4, padding="same", use_bias=False, strides=2),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(200, use_bias=False),
        keras.layers.BatchNormalization(scale=False, center=True),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(10, activation="softmax"),
    ])
