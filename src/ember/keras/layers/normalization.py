"""Keras ``BatchNormalization``, ``LayerNormalization`` and ``GroupNormalization`` over the ``axis`` of features."""
from __future__ import annotations

from ... import functions as F
from .. import initializers
from .base import Layer


class BatchNormalization(Layer):
    """Normalise each feature over the batch (and spatial) axes.

    Keras semantics: ``momentum=0.99`` is the decay of the moving averages
    (``moving = momentum * moving + (1 - momentum) * batch``), ``epsilon=1e-3``; ``center`` adds the learned
    offset ``beta``, ``scale`` the learned factor ``gamma``. Weights in order: gamma, beta, moving_mean,
    moving_variance (the last two non-trainable). Training uses batch statistics, inference the moving ones.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], received {momentum}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        features = input_shape[axis]
        if features is None:
            raise self.input_error(f"a known size on axis {self.axis}", tuple(input_shape))
        self._feature_axis = axis
        if self.scale:
            self.add_weight("gamma", (features,), self.gamma_initializer)
        if self.center:
            self.add_weight("beta", (features,), self.beta_initializer)
        self.add_weight("moving_mean", (features,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (features,), self.moving_variance_initializer, trainable=False)

    def check_input(self, inputs):
        features = self.moving_mean.shape[0]
        if inputs.ndim <= self._feature_axis or inputs.shape[self._feature_axis] != features:
            raise self.input_error(f"input with {features} features on axis {self.axis}", tuple(inputs.shape))

    def call(self, inputs, training=None):
        x = inputs if self._feature_axis == 1 else inputs.movedim(self._feature_axis, 1)
        y = F.batch_norm(
            x, self.moving_mean, self.moving_variance,
            weight=self.gamma if self.scale else None, bias=self.beta if self.center else None,
            training=bool(training), momentum=1.0 - self.momentum, eps=self.epsilon,
        )
        return y if self._feature_axis == 1 else y.movedim(1, self._feature_axis)

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


class LayerNormalization(Layer):
    """Normalise each sample over the last axis (``axis=-1``), with learned ``gamma``/``beta``."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"LayerNormalization: only axis=-1 is supported, received {axis}")
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale

    def build(self, input_shape):
        features = input_shape[-1]
        if self.scale:
            self.add_weight("gamma", (features,), "ones")
        if self.center:
            self.add_weight("beta", (features,), "zeros")

    def call(self, inputs):
        return F.layer_norm(inputs, (inputs.shape[-1],), self.gamma if self.scale else None,
                            self.beta if self.center else None, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class GroupNormalization(Layer):
    """Group normalization (Keras's): the features on ``axis`` split into ``groups`` groups, each normalised
    per sample over its features and all the other non-batch axes, then ``* gamma + beta`` per feature.

    Args: groups=32 (-1: one group per feature), axis=-1, epsilon=1e-3, center=True (learn ``beta``,
    zeros), scale=True (learn ``gamma``, ones), beta_initializer, gamma_initializer.
    """

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups < 1 and groups != -1):
            raise ValueError(f"GroupNormalization: groups must be a positive int or -1, received {groups!r}")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise self.input_error(f"an axis {self.axis} other than the batch axis", tuple(input_shape))
        self._feature_axis = self.axis % rank
        features = input_shape[self._feature_axis]
        groups = features if self.groups == -1 else self.groups
        if groups > features or features % groups:
            raise ValueError(f"GroupNormalization: the number of features on axis {self.axis} ({features}, input "
                             f"shape {tuple(input_shape)}) must be a multiple of groups ({self.groups}), and at "
                             "least as many")
        self._group_count, self._features = groups, features
        if self.scale:
            self.add_weight("gamma", (features,), self.gamma_initializer)
        if self.center:
            self.add_weight("beta", (features,), self.beta_initializer)

    def check_input(self, inputs):
        if inputs.ndim <= self._feature_axis or inputs.shape[self._feature_axis] != self._features:
            raise self.input_error(f"input with {self._features} features on axis {self.axis}", tuple(inputs.shape))

    def call(self, inputs):
        axis = self._feature_axis
        x = inputs if axis == 1 else inputs.movedim(axis, 1)
        y = F.group_norm(x, self._group_count, self.gamma if self.scale else None, self.beta if self.center else None,
                         self.epsilon)
        return y if axis == 1 else y.movedim(1, axis)

    def get_config(self):
        return {
            **super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }
