"""Sequential MNIST in the Keras dialect: an LSTM reads each digit row by row (28 steps of 28 pixels), run on
Ember by changing only its imports.

The body is ordinary Keras 3 code, the twin of ``examples/sequential_mnist.py``: ``LSTM(128)`` over the rows,
``Dense(10)`` logits on its last output, Adam at 1e-3 with batches of 128 and gradient clipping
(``global_clipnorm=1.0``), a sparse categorical cross-entropy from logits, the test accuracy per epoch.

    python examples/keras_sequential_mnist.py --epochs 5          # MNIST from EMBER_DATA or --data-dir
"""
import argparse
import time

# --- the only lines that differ from the Keras original -------------------------------------------------
from ember import keras                                            # import keras
from ember.keras import layers                                     # from keras import layers
from ember.datasets import mnist                                   # from keras.datasets import mnist
# ---------------------------------------------------------------------------------------------------------


def build_model(units: int = 128) -> keras.Model:
    """Reads ``(batch, 28, 28)`` images as 28 steps of 28 features; 10 logits from the LSTM's last output."""
    return keras.Sequential([keras.Input((28, 28)), layers.LSTM(units), layers.Dense(10)])


class EpochTimer(keras.callbacks.Callback):
    """Records the seconds each epoch's training takes (without the test-set evaluation)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="clip the gradients' global norm to this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: $EMBER_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images only")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(args.data_dir)
    # scale to [0, 1] and standardise with MNIST's mean and deviation, as the PyTorch twin's transforms do
    x_train = ((x_train.astype("float32") / 255.0) - 0.1307) / 0.3081
    x_test = ((x_test.astype("float32") / 255.0) - 0.1307) / 0.3081
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    if args.test_limit:
        x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]

    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr, global_clipnorm=args.clip),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    print(f"parameters: {model.count_params():,}")

    history = []
    timer = EpochTimer()
    for epoch in range(args.epochs):
        fit = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                        callbacks=[timer], verbose=0)
        _, test_accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
        history.append({"epoch": epoch + 1, "train_loss": fit.history["loss"][-1], "test_accuracy": test_accuracy,
                        "seconds": timer.seconds})
        print(f"epoch {epoch + 1}: train loss {history[-1]['train_loss']:.4f} | test accuracy "
              f"{100 * test_accuracy:.2f}% | {timer.seconds:.1f} s", flush=True)
    return history


if __name__ == "__main__":
    main()
