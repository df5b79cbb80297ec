"""``compile``/``fit``/``evaluate``/``predict``: Keras's training API, written with Ember's public low-level API.

One training step is the loop a PyTorch user writes by hand::

    optimizer.zero_grad(); loss = loss_fn(y, model(x)); loss.backward(); optimizer.step()

When the model ends in Ember's softmax (or sigmoid) and the loss is a cross-entropy on probabilities, the
loss itself reads the logits behind the model's output (see ``ember.keras.losses``), so that
``exp(-150) == 0`` in float32 cannot turn into ``log(0)``. Metrics see the probabilities.
"""
from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from . import config
from . import losses as losses_module
from ._ignored import warn_no_effect
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .callbacks.base import CallbackList, History, ProgbarLogger
from .callbacks.checkpoint import ModelCheckpoint
from .callbacks.csv_logger import CSVLogger
from .callbacks.plotting import PlotTraining
from . import distribution as keras_distribution
from .metrics import Metric
from .data_adapters import (
    concatenate_outputs, is_array_like, make_adapter, split_validation, to_input_tensor, to_target_tensor,
)


# Callbacks that write files: under a distribution they run on rank 0 only.
_WRITERS = (ModelCheckpoint, CSVLogger, PlotTraining)

class Trainer:
    """Mixed into ``keras.Model``: everything between data and ``optimizer.step()``."""

    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.loss_weight = None
        self.compiled_metrics_spec = []
        self.metrics_objects = []
        self.stop_training = False
        self.history = None
        self._loss_tracker = metrics_module.Mean(name="loss")

    # ------------------------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, loss and metrics (objects or names: ``"adam"``,
        ``"sparse_categorical_crossentropy"``, ``["accuracy"]``).

        ``loss_weights`` scales the loss of the model's one output (a number, or a list or dict of one; the
        regularization penalties are added unscaled, as in Keras). Ember always runs eagerly in float32:
        ``run_eagerly`` either way and ``jit_compile="auto"``/False are what it does, ``auto_scale_loss``
        only matters for mixed precision, and ``jit_compile=True`` or ``steps_per_execution`` > 1 warn that
        they have no effect.
        """
        if jit_compile is True:
            warn_no_effect("compile", "jit_compile", jit_compile, "Ember runs eagerly and compiles nothing")
        if steps_per_execution not in (None, 1):
            warn_no_effect("compile", "steps_per_execution", steps_per_execution,
                           "every batch is one step, with its batch callbacks")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss) if loss is not None else None
        self.loss_weight = _single_loss_weight(loss_weights, getattr(self, "output_names", None))
        target = config.resolve_device()
        if self._device() != target and not isinstance(self.optimizer, optimizers_module._Wrapped):
            self.to(target)  # parameters keep their identity, so a bound optimizer stays valid
        self.compiled_metrics_spec = list(metrics or []) + list(weighted_metrics or [])
        self.metrics_objects = []  # resolved on the first batch, when shapes are known
        self.stop_training = False

    @property
    def metrics_names(self) -> list:
        return ["loss"] + [m.name for m in self.metrics_objects]

    def _require_compiled(self, where: str) -> None:
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(f"Model '{self.name}': call compile(optimizer=..., loss=...) before {where}()")

    def _resolve_metrics(self, y, y_pred) -> None:
        if not self.metrics_objects and self.compiled_metrics_spec:
            self.metrics_objects = [metrics_module.get(m, self.loss, y, y_pred) for m in self.compiled_metrics_spec]

    def _reset_metrics(self) -> None:
        self._loss_tracker.reset_state()
        for metric in self.metrics_objects:
            metric.reset_state()

    def _logs(self) -> dict:
        logs = {"loss": self._loss_tracker.result()}
        for metric in self.metrics_objects:
            logs[metric.name] = metric.result()
        parallel = keras_distribution.distribution()
        if parallel is not None and parallel.world_size > 1:
            # means over every rank's samples: sum (total, count) across ranks
            trackers = [("loss", self._loss_tracker)] + [(metric.name, metric) for metric in self.metrics_objects]
            averaged = [(name, tracker) for name, tracker in trackers if type(tracker).result is Metric.result]
            sums = parallel.aggregate([float(value) for _, tracker in averaged
                                       for value in (tracker.total, tracker.count)])
            for index, (name, _) in enumerate(averaged):
                total, count = sums[2 * index], sums[2 * index + 1]
                logs[name] = total / count if count else 0.0
        return logs

    # ------------------------------------------------------------------------------------ one step
    def _device(self):
        """Where inputs go: the model's parameters' device, or (not built yet) the configured device."""
        for parameter in self.parameters():
            return parameter.device
        return config.resolve_device()

    def _total_loss(self, y, predictions, sample_weight):
        loss = self.loss(y, predictions, sample_weight=sample_weight)
        if self.loss_weight is not None:
            loss = loss * self.loss_weight
        penalties = self.losses
        for penalty in penalties:
            loss = loss + penalty
        return loss

    def _update_metrics(self, loss_value: Tensor, batch_size: int, y, predictions, sample_weight) -> None:
        self._loss_tracker.update_state(loss_value.array, sample_weight=np.float32(batch_size))
        self._resolve_metrics(y, predictions)
        for metric in self.metrics_objects:
            metric.update_state(y, predictions, sample_weight)

    def train_step(self, x, y, sample_weight=None) -> dict:
        """One optimizer step on a batch; returns the running logs of the epoch."""
        predictions = self(x, training=True)
        if not self.optimizer.built:  # after the first call, which builds the layers of a subclassed model
            named = list(self.named_parameters())
            self.optimizer.build([p for _, p in named], names=[name for name, _ in named])
        self.optimizer.zero_grad()
        loss = self._total_loss(y, predictions, sample_weight)
        loss.backward()
        parallel = keras_distribution.distribution()
        if parallel is not None:
            parallel.average_gradients(self.parameters())
        self.optimizer.step()
        self._update_metrics(loss.detach(), _batch_size(x), y, predictions.detach(), sample_weight)
        return self._logs()

    def test_step(self, x, y, sample_weight=None) -> dict:
        """Loss and metrics of a batch in inference mode. A batch larger than ``inference_chunk`` samples (e.g.
        the codelab's single batch of 10,000 test images) runs in chunks: the same numbers, bounded memory."""
        for start in range(0, _batch_size(x), self.inference_chunk):
            part = slice(start, start + self.inference_chunk)
            x_part, y_part = _rows(x, part), _rows(y, part)
            weight_part = None if sample_weight is None else sample_weight[part]
            with no_grad():
                predictions = self(x_part, training=False)
                loss = self._total_loss(y_part, predictions, weight_part)
            self._update_metrics(loss, _batch_size(x_part), y_part, predictions, weight_part)
        return self._logs()

    inference_chunk = 1024

    # ----------------------------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq: int = 1):
        """Train for ``epochs`` epochs; returns a ``History`` whose ``history`` dict holds floats per epoch."""
        self._require_compiled("fit")
        if x is None:
            raise ValueError(f"Model '{self.name}': fit needs x (arrays or a dataset)")
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = split_validation(x, y, sample_weight, validation_split)
        train_data = make_adapter(x, y, sample_weight, batch_size, shuffle, steps_per_epoch)
        validation = None
        if validation_data is not None:
            validation = self._validation_adapter(validation_data, validation_batch_size or batch_size,
                                                  validation_steps)
        verbose = 1 if verbose == "auto" else int(verbose)
        parallel = keras_distribution.distribution()
        if parallel is not None and not parallel.writes_output:
            verbose = 0  # only rank 0 prints progress and writes checkpoints, CSV logs and figures
            callbacks = [callback for callback in callbacks or [] if not isinstance(callback, _WRITERS)]
        self.history = History()
        callback_list = list(callbacks or [])
        extras = [self.history] + ([ProgbarLogger(verbose)] if verbose else [])
        callbacks = CallbackList(callback_list + extras, self, {
            "epochs": epochs, "steps": len(train_data) or None, "verbose": verbose,
        })
        device = self._device()
        if parallel is not None:
            parallel.synchronise_random_state()  # the same shuffled batches on every rank
        self.stop_training = False
        callbacks.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            callbacks.on_epoch_begin(epoch)
            self.train()
            logs = {}
            for step, (xb, yb, wb) in enumerate(train_data.epoch()):
                callbacks.on_train_batch_begin(step)
                if parallel is not None:
                    xb, yb, wb = parallel.shard(xb), parallel.shard(yb), parallel.shard(wb)
                xb, yb = to_input_tensor(xb, device), to_target_tensor(yb, device)
                wb = self._sample_weights(yb, wb, class_weight)
                if parallel is not None:
                    self._synchronise_replicas(parallel, xb)
                logs = self.train_step(xb, yb, wb)
                callbacks.on_train_batch_end(step, logs=logs)
                if self.stop_training:
                    break
            if validation is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                validation_logs = self._run_evaluation(validation, callbacks=None)
                logs = {**logs, **{f"val_{key}": value for key, value in validation_logs.items()}}
            callbacks.on_epoch_end(epoch, logs=logs)
            if self.stop_training:
                break
        if epochs > 0:  # as Keras: with use_ema, the weights take their moving averages
            self.optimizer.finalize_variable_values([p for p in self.parameters() if p.requires_grad])
        callbacks.on_train_end(logs=logs if epochs > initial_epoch else None)
        return self.history

    def _synchronise_replicas(self, parallel, x) -> None:
        """Before the first distributed step: build the model if needed, then copy rank 0's weights."""
        if not any(True for _ in self.parameters()):
            with no_grad():
                self(x, training=False)
        parallel.synchronise_weights(self)

    def _validation_adapter(self, validation_data, batch_size, steps):
        if isinstance(validation_data, (tuple, list)) and is_array_like(validation_data[0]):
            if len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x, y) or (x, y, sample_weight)")
            weights = validation_data[2] if len(validation_data) == 3 else None
            return make_adapter(validation_data[0], validation_data[1], weights, batch_size, False, steps)
        adapter = make_adapter(validation_data, steps=steps)
        return adapter

    @staticmethod
    def _sample_weights(y, sample_weight, class_weight):
        if class_weight is None:
            return sample_weight
        labels = y.array
        labels = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(-1)
        table = np.zeros(int(max(class_weight)) + 1, dtype=np.float32)
        table[:] = 1.0
        for label, weight in class_weight.items():
            table[int(label)] = weight
        weights = table[np.asarray(labels.get() if hasattr(labels, "get") else labels, dtype=np.int64)]
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float32)
        return weights

    # ------------------------------------------------------------------------------------ evaluate
    def _run_evaluation(self, adapter, callbacks) -> dict:
        self._reset_metrics()
        self.eval()
        device = self._device()
        logs = {}
        parallel = keras_distribution.distribution()
        for step, (xb, yb, wb) in enumerate(adapter.epoch()):
            if parallel is not None:
                xb, yb, wb = parallel.shard(xb), parallel.shard(yb), parallel.shard(wb)
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            logs = self.test_step(to_input_tensor(xb, device), to_target_tensor(yb, device), wb)
            if callbacks is not None:
                callbacks.on_test_batch_end(step, logs=logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict: bool = False):
        """Loss and metrics on the given data: a float, a list ``[loss, *metrics]``, or a dict."""
        self._require_compiled("evaluate")
        batch_size = _batch_size_for_steps(x, batch_size, steps)
        adapter = make_adapter(x, y, sample_weight, batch_size, False, steps, for_name="evaluate")
        callback_list = CallbackList(list(callbacks or []), self, {"steps": len(adapter) or None})
        callback_list.on_test_begin()
        logs = self._run_evaluation(adapter, callback_list)
        callback_list.on_test_end(logs=logs)
        parallel = keras_distribution.distribution()
        if verbose and verbose != "0" and (parallel is None or parallel.writes_output):  # "auto", 1, 2 print
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = [logs[name] for name in ["loss"] + [m.name for m in self.metrics_objects]]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for ``x`` as a NumPy array (in eval mode, without recording a graph).

        ``verbose``: "auto" or 1 shows Keras's progress bar, 2 one line at the end, 0 nothing."""
        batch_size = _batch_size_for_steps(x, batch_size, steps)
        adapter = make_adapter(x, None, None, batch_size, False, steps, for_name="predict")
        verbose = 1 if verbose == "auto" else int(verbose)
        extras = [ProgbarLogger(verbose)] if verbose else []
        callback_list = CallbackList(list(callbacks or []) + extras, self, {"steps": len(adapter) or None})
        self.eval()
        device = self._device()
        outputs = []
        callback_list.on_predict_begin()
        with no_grad():
            for step, (xb, _, _) in enumerate(adapter.epoch()):
                callback_list.on_predict_batch_begin(step)
                inputs = to_input_tensor(xb, device)
                chunks = [_to_numpy(self(_rows(inputs, slice(start, start + self.inference_chunk)), training=False))
                          for start in range(0, _batch_size(inputs), self.inference_chunk)]
                outputs.append(concatenate_outputs(chunks))
                callback_list.on_predict_batch_end(step, logs={"outputs": outputs[-1]})
        callback_list.on_predict_end()
        return concatenate_outputs(outputs)

    def predict_on_batch(self, x):
        self.eval()
        with no_grad():
            return _to_numpy(self(to_input_tensor(x, self._device()), training=False))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One training step on one batch; returns the loss (and metrics) of this batch."""
        self._require_compiled("train_on_batch")
        self._reset_metrics()
        self.train()
        device = self._device()
        y = to_target_tensor(y, device)
        logs = self.train_step(to_input_tensor(x, device), y, self._sample_weights(y, sample_weight, class_weight))
        return _format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        self._reset_metrics()
        self.eval()
        device = self._device()
        logs = self.test_step(to_input_tensor(x, device), to_target_tensor(y, device), sample_weight)
        return _format_result(logs, return_dict)

    # ------------------------------------------------------------------------------------- summary
    def summary(self, line_length: int = 65, positions=None, print_fn=None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range=None) -> None:
        """Print Keras's table: layer (type), output shape, parameter count, and the totals.

        ``positions``, ``expand_nested``, ``show_trainable`` and ``layer_range`` are accepted for Keras code and
        warn that they have no effect when given."""
        from .summary import summary_text

        for argument, value, default in (("positions", positions, None), ("expand_nested", expand_nested, False),
                                         ("show_trainable", show_trainable, False),
                                         ("layer_range", layer_range, None)):
            if value != default:
                warn_no_effect("summary", argument, value, "the table has fixed columns and every layer")
        text = summary_text(self, line_length)
        (print_fn or print)(text)

    # -------------------------------------------------------------------------------------- saving
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True, **kwargs) -> None:
        """Save architecture (JSON), weights and optimizer state (safetensors) in one ``.keras`` archive (never
        pickle); ``keras.models.load_model`` restores them, and ``fit`` continues exactly where it stopped.

        The compile settings are always kept; ``include_optimizer=False`` leaves out the optimizer's state.
        Other arguments of Keras's ``save`` (``zipped``, ``save_format``, ``signatures``, ``options``,
        ``save_traces``) warn that they have no effect unless they have their default value."""
        from .saving import save_model

        for argument, value in kwargs.items():
            if argument not in _SAVE_DEFAULTS:
                raise TypeError(f"save: unexpected keyword argument {argument!r}; expected one of "
                                f"{sorted(['include_optimizer', *_SAVE_DEFAULTS])}")
            if value != _SAVE_DEFAULTS[argument]:
                warn_no_effect("save", argument, value, "a model is always one zipped .keras archive")
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        from .saving import load_weights

        load_weights(self, filepath)


_SAVE_DEFAULTS = {"zipped": None, "save_format": None, "signatures": None,
                  "options": None, "save_traces": True}


def _single_loss_weight(loss_weights, output_names) -> float | None:
    """The scale of the one output's loss: a number, or a list/tuple/dict holding one number (a dict keyed by
    the output's name, when the model knows it)."""
    if loss_weights is None:
        return None
    values = loss_weights
    if isinstance(loss_weights, dict):
        unknown = [key for key in loss_weights if output_names is not None and key not in output_names]
        if unknown:
            raise ValueError(f"compile: loss_weights names outputs {unknown}; the model's output is {output_names}")
        values = list(loss_weights.values())
    if isinstance(values, (list, tuple)):
        if len(values) != 1:
            raise ValueError(f"compile: a model with one output takes one loss weight, received loss_weights="
                             f"{loss_weights!r}")
        values = values[0]
    if isinstance(values, bool) or not isinstance(values, (int, float, np.integer, np.floating)):
        raise TypeError(f"compile: loss_weights must be a number (or a list or dict of one), received "
                        f"{loss_weights!r}")
    return float(values)


def _batch_size_for_steps(x, batch_size, steps):
    """Keras's rule for arrays given ``steps`` without ``batch_size``: batches of ⌈samples / steps⌉ rows, so that
    ``steps`` batches cover every sample (``predict(x, steps=1)`` predicts all of ``x`` in one batch)."""
    if steps is None or batch_size is not None or not is_array_like(x):
        return batch_size
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, received {steps!r}")
    return max(1, -(-_batch_size(x) // int(steps)))


def _batch_size(x) -> int:
    first = x[0] if isinstance(x, (list, tuple)) else x
    return int(first.shape[0])


def _rows(value, part: slice):
    """Rows ``part`` of a Tensor, an array, or each of a list of them (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [v[part] for v in value]
    return value[part]


def _to_numpy(result):
    if isinstance(result, (list, tuple)):
        return [_to_numpy(r) for r in result]
    data = result.array
    return data.get() if hasattr(data, "get") else np.array(data)


def _format_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
