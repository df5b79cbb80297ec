"""Training and inference of one workload on one framework: the correctness guard, step timing, throughput.

A training step is the loop every user writes: ``zero_grad``, forward, cross-entropy, ``backward``,
``optimizer.step()``. Both frameworks start from the same weights (``workloads.load_initial_weights``) and
read the same batches.
"""
from __future__ import annotations

import math

import numpy as np

from measure import seconds_per_call
from workloads import Workload, build_model, load_initial_weights, trainable_parameters

LOSS_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3
# after one Adam step the updates of near-zero gradients (about lr * sign(g)) may differ in sign between
# frameworks, which moves the loss by far less than this
LOSS_AFTER_STEP_TOLERANCE = 1e-3


class Trainer:
    """A model, its Adam optimizer and a pool of batches on one framework, ready to take training steps."""

    def __init__(self, workload: Workload, framework, images: np.ndarray, labels: np.ndarray, seed: int = 0):
        if images.shape[0] != labels.shape[0] or images.shape[0] < workload.batch_size:
            raise ValueError(
                f"Trainer({workload.name}): expected at least {workload.batch_size} images with as many labels, "
                f"received {images.shape[0]} images and {labels.shape[0]} labels"
            )
        self.workload = workload
        self.framework = framework
        framework.manual_seed(seed)
        self.model = build_model(workload.name, framework)
        self.initial_weights = load_initial_weights(self.model, framework, seed)
        self.model.train()
        self.optimizer = framework.adam(trainable_parameters(self.model), lr=1e-3)
        size = workload.batch_size
        self.batches = [
            (framework.tensor(images[start:start + size]), framework.tensor(labels[start:start + size]))
            for start in range(0, images.shape[0] - size + 1, size)
        ]
        self.steps_taken = 0
        self.last_loss = None

    def step(self) -> None:
        """One training step on the next batch of the pool."""
        images, labels = self.batches[self.steps_taken % len(self.batches)]
        self.optimizer.zero_grad()
        loss = self.framework.F.cross_entropy(self.model(images), labels)
        loss.backward()
        self.optimizer.step()
        self.steps_taken += 1
        self.last_loss = loss

    def seconds_per_step(self, steps: int) -> float:
        return seconds_per_call(self.step, steps)

    def loss_value(self) -> float:
        return float(self.last_loss.item())


class Predictor:
    """The workload's model in eval mode without gradients, for inference throughput on 1000-image batches."""

    def __init__(self, model, framework, images: np.ndarray, batch_size: int = 1000):
        self.model = model.eval()
        self.framework = framework
        self.batch_size = batch_size
        self.batches = [framework.tensor(images[start:start + batch_size])
                        for start in range(0, images.shape[0] - batch_size + 1, batch_size)]
        if not self.batches:
            raise ValueError(f"Predictor: expected at least {batch_size} images, received {images.shape[0]}")
        self.calls = 0

    def predict(self):
        with self.framework.no_grad():
            output = self.model(self.batches[self.calls % len(self.batches)])
        self.calls += 1
        return output

    def images_per_second(self, batches: int) -> float:
        return self.batch_size / seconds_per_call(self.predict, batches)


def _relative_error(value: np.ndarray, reference: np.ndarray) -> float:
    """``max |value - reference| / max |reference|``: the error relative to the array's scale."""
    scale = float(np.max(np.abs(reference)))
    return float(np.max(np.abs(value.astype(np.float64) - reference))) / max(scale, np.finfo(np.float32).tiny)


def checked_step(workload: Workload, framework, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """One training step from the workload's initial weights on the first batch, dropout off (Dropout modules
    and LSTMs in eval mode; batch norm stays in training mode): the loss, every trainable parameter's gradient,
    and the loss on the same batch after the Adam step."""
    trainer = Trainer(workload, framework, images[:workload.batch_size], labels[:workload.batch_size], seed)
    for module in trainer.model.modules():
        if isinstance(module, (framework.nn.Dropout, framework.nn.LSTM)):  # an LSTM's dropout between layers
            module.eval()
    trainer.step()
    gradients = {name: framework.to_numpy(parameter.grad).copy()
                 for name, parameter in trainer.model.named_parameters() if parameter.requires_grad}
    loss = trainer.loss_value()
    images_batch, labels_batch = trainer.batches[0]
    with framework.no_grad():
        loss_after = float(framework.F.cross_entropy(trainer.model(images_batch), labels_batch).item())
    return {"loss": loss, "gradients": gradients, "loss_after_step": loss_after}


def check_same_computation(workload: Workload, frameworks: list, images: np.ndarray, labels: np.ndarray,
                           seed: int = 0) -> dict:
    """``checked_step`` on each framework (in this process), compared by ``compare_checked_steps``."""
    return compare_checked_steps(workload, [checked_step(workload, framework, images, labels, seed)
                                            for framework in frameworks])


def compare_checked_steps(workload: Workload, results: list[dict]) -> dict:
    """Compares the ``checked_step`` results of two frameworks: the first is checked against the last (the
    reference) — the loss (relative ``LOSS_TOLERANCE``), the first layer's weight gradient and every other
    gradient (``GRADIENT_TOLERANCE`` relative to the largest entry), and the loss after the Adam step
    (``LOSS_AFTER_STEP_TOLERANCE``)."""
    value, reference = results[0], results[-1]
    if value["gradients"].keys() != reference["gradients"].keys():
        raise RuntimeError(
            f"check {workload.name}: the models' parameters differ: {sorted(value['gradients'])} vs "
            f"{sorted(reference['gradients'])}"
        )
    first_layer = next(iter(reference["gradients"]))
    gradient_errors = {name: _relative_error(value["gradients"][name], reference["gradients"][name])
                       for name in reference["gradients"]}
    report = {
        "losses": [result["loss"] for result in results],
        "loss_rel_err": abs(value["loss"] - reference["loss"]) / abs(reference["loss"]),
        "first_layer": first_layer,
        "first_layer_grad_rel_err": gradient_errors[first_layer],
        "max_grad_rel_err": max(gradient_errors.values()),
        "worst_grad": max(gradient_errors, key=gradient_errors.get),
        "losses_after_step": [result["loss_after_step"] for result in results],
        "loss_after_step_rel_err": abs(value["loss_after_step"] - reference["loss_after_step"])
        / abs(reference["loss_after_step"]),
    }
    report["passed"] = bool(
        report["loss_rel_err"] <= LOSS_TOLERANCE
        and report["max_grad_rel_err"] <= GRADIENT_TOLERANCE
        and report["loss_after_step_rel_err"] <= LOSS_AFTER_STEP_TOLERANCE
        and all(math.isfinite(loss) for loss in report["losses"] + report["losses_after_step"])
    )
    return report
