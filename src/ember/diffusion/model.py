"""The text-conditioned diffusion model: configuration, training step, samplers and checkpoints.

    config = DiffusionConfig(channels=32)
    model = DiffusionModel(config)
    loss = model.loss(images, prompts)            # images (N, 1, 28, 28) in [-1, 1]
    images = model.sample(["seven"] * 16, steps=50, sampler="ddim", guidance=2.0)
    save_checkpoint(model, "ckpt.safetensors"); model = load_checkpoint("ckpt.safetensors")
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from .. import functions as _functions
from .. import nn
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..io import safetensors
from ..io.serialization import from_arrays, to_arrays
from ..progress import progress as progress_bar
from .schedule import NoiseSchedule, ddim_step, ddpm_step, guided_noise, noise_prediction_loss, q_sample
from .text import TextEncoder, encode_prompts
from .unet import UNet

SAMPLERS = ("ddpm", "ddim")
CONFIG_KEY = "ember.diffusion.config"
OPTIMIZER_KEY = "ember.diffusion.optimizer"
TRAINING_KEY = "ember.diffusion.training"


@dataclass(frozen=True)
class DiffusionConfig:
    """Everything that fixes the shapes and the process of a :class:`DiffusionModel` (saved in checkpoints).

    ``image_size`` 28, ``in_channels`` 1, ``channels`` 32, ``channel_multipliers`` (1, 2, 2), ``groups`` 8,
    ``attention_heads`` 4, ``dropout`` 0.0; ``timesteps`` 1000 with a ``schedule`` of ``"linear"`` or
    ``"cosine"``; text encoder ``text_width`` 64, ``text_layers`` 2, ``text_heads`` 4; ``condition_dropout``
    0.1 (the share of training prompts replaced by the null condition, for classifier-free guidance)."""

    image_size: int = 28
    in_channels: int = 1
    channels: int = 32
    channel_multipliers: tuple = (1, 2, 2)
    groups: int = 8
    attention_heads: int = 4
    dropout: float = 0.0
    timesteps: int = 1000
    schedule: str = "linear"
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    condition_dropout: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"DiffusionConfig: condition_dropout must be in [0, 1), received {self.condition_dropout}")
        if self.image_size < 1 or self.in_channels < 1 or self.channels < 1 or not self.channel_multipliers:
            raise ValueError(f"DiffusionConfig: image_size, in_channels and channels must be positive and "
                             f"channel_multipliers non-empty, received {self}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> DiffusionConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"DiffusionConfig: {source}: the configuration is not JSON ({error})") from None
        known = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(values, dict) or set(values) - known:
            extra = sorted(set(values) - known) if isinstance(values, dict) else values
            raise ValueError(f"DiffusionConfig: {source}: unknown configuration entries {extra}")
        if "channel_multipliers" in values:
            values["channel_multipliers"] = tuple(values["channel_multipliers"])
        return cls(**values)


class DiffusionModel(nn.Module):
    """UNet noise predictor + text encoder + a learned null condition, over a :class:`NoiseSchedule`.

    ``forward(x_t, t, ids, drop=None)`` → predicted ε (N, C, H, W); ``ids`` (N, L) token ids; ``drop`` (N,)
    bool, True where the condition is replaced by the null condition (None: keep all)."""

    def __init__(self, config: DiffusionConfig = DiffusionConfig()):
        super().__init__()
        self.config = config
        self.schedule = NoiseSchedule(config.timesteps, config.schedule)
        self.unet = UNet(config.in_channels, config.channels, config.channel_multipliers, config.groups,
                         config.attention_heads, config.dropout)
        self.text_encoder = TextEncoder(self.unet.embedding_dim, config.text_width, config.text_heads,
                                        config.text_layers)
        self.null_condition = nn.Parameter(_functions.zeros(1, self.unet.embedding_dim))

    def condition(self, ids: Tensor, drop: np.ndarray | None = None) -> Tensor:
        """Condition embeddings (N, embedding_dim); rows where ``drop`` is True get the null condition."""
        encoded = self.text_encoder(ids)
        if drop is None or not np.any(drop):
            return encoded
        keep = _functions.tensor((~np.asarray(drop)).reshape(-1, 1), dtype=encoded.dtype, device=encoded.device)
        return encoded * keep + self.null_condition * (1.0 - keep)

    def forward(self, x_t: Tensor, t, ids: Tensor, drop: np.ndarray | None = None) -> Tensor:
        return self.unet(x_t, t, self.condition(ids, drop))

    def loss(self, images: Tensor, prompts, rng: np.random.Generator | None = None) -> Tensor:
        """The ε-prediction loss of one batch: uniform timesteps, Gaussian noise, the condition dropped with
        probability ``config.condition_dropout``. images (N, C, H, W) in [-1, 1]; prompts: N strings."""
        rng = rng if rng is not None else np.random.default_rng()
        n = images.shape[0]
        if len(prompts) != n:
            raise ValueError(f"DiffusionModel.loss: {n} images but {len(prompts)} prompts")
        t = rng.integers(0, self.config.timesteps, size=n)
        noise = _functions.tensor(rng.standard_normal(images.shape, dtype=np.float32), device=images.device)
        x_t = q_sample(self.schedule, images, t, noise)
        ids = _functions.tensor(encode_prompts(prompts), device=images.device)
        drop = rng.random(n) < self.config.condition_dropout
        return noise_prediction_loss(self(x_t, t, ids, drop), noise)

    def _guided_noise(self, x: Tensor, t: int, condition: Tensor, null: Tensor, guidance: float) -> Tensor:
        n = x.shape[0]
        timesteps = np.full(2 * n if guidance else n, t, dtype=np.int64)
        if not guidance:
            return self.unet(x, timesteps, condition)
        both = self.unet(_functions.cat([x, x], dim=0), timesteps, _functions.cat([condition, null], dim=0))
        return guided_noise(both[:n], both[n:], guidance)

    def sample(self, prompts, steps: int = 50, sampler: str = "ddim", guidance: float = 2.0, eta: float = 0.0,
               rng: np.random.Generator | None = None, progress: bool = True) -> np.ndarray:
        """Draw one image per prompt: (N, C, H, W) float32 NumPy in [-1, 1].

        ``sampler``: ``"ddim"`` (deterministic with ``eta=0``) or ``"ddpm"`` (ancestral); ``steps`` of the
        T timesteps, evenly spaced (``steps=T`` with ``"ddpm"`` is Ho et al.'s sampler). ``guidance`` w of
        classifier-free guidance (0: conditional only). Noise comes from ``rng`` (default: Ember's generator,
        seeded by ``ember.manual_seed``)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"DiffusionModel.sample: sampler must be one of {SAMPLERS}, received {sampler!r}")
        if isinstance(prompts, str):
            prompts = [prompts]
        if rng is None:
            from ..backend.random import generator
            rng = generator()
        device = self.null_condition.device
        ids = _functions.tensor(encode_prompts(prompts), device=device)
        timesteps = self.schedule.sampling_timesteps(steps)
        n, size, channels = len(prompts), self.config.image_size, self.config.in_channels
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                condition = self.text_encoder(ids)
                null = self.null_condition.expand(n, -1)
                x = _functions.tensor(rng.standard_normal((n, channels, size, size), dtype=np.float32), device=device)
                bar = progress_bar(total=len(timesteps), desc=f"{sampler} sampling", unit="step",
                                   disable=not progress)
                for index, t in enumerate(timesteps):
                    t_prev = int(timesteps[index + 1]) if index + 1 < len(timesteps) else -1
                    noise = self._guided_noise(x, int(t), condition, null, guidance)
                    fresh = None
                    if t_prev >= 0 and (sampler == "ddpm" or eta > 0):
                        fresh = _functions.tensor(rng.standard_normal(x.shape, dtype=np.float32), device=device)
                    if sampler == "ddpm":
                        x = ddpm_step(self.schedule, x, int(t), t_prev, noise, fresh)
                    else:
                        x = ddim_step(self.schedule, x, int(t), t_prev, noise, eta, fresh)
                    bar.update(1)
                bar.close()
        finally:
            self.train(was_training)
        return np.asarray(x.numpy(), dtype=np.float32).clip(-1.0, 1.0)


def save_checkpoint(model: DiffusionModel, path, ema: nn.Module | None = None, extra: dict | None = None,
                    optimizer=None, training_state: dict | None = None) -> None:
    """Write ``model``'s weights (and, with ``ema``, the averaged weights used for sampling) to a safetensors
    file whose metadata carries the configuration; written atomically. ``extra``: more metadata strings.

    With ``optimizer`` its ``state_dict()`` goes in too, as ``ember.save`` stores one (arrays as
    ``optimizer.<n>`` tensors, the structure as JSON in the metadata), and ``training_state`` (a
    JSON-serialisable dict: step, generator states) under ``ember.diffusion.training``: what
    :func:`ember.diffusion.train` needs to resume."""
    tensors = {f"model.{name}": np.asarray(value.numpy()) for name, value in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{name}": np.asarray(value.numpy()) for name, value in ema.state_dict().items()})
    metadata = {CONFIG_KEY: model.config.to_json(), **{k: str(v) for k, v in (extra or {}).items()}}
    if optimizer is not None:  # its state_dict() as ember.save stores one, the arrays' names prefixed
        arrays, metadata[OPTIMIZER_KEY] = to_arrays(optimizer.state_dict(), "optimizer.state_dict()")
        tensors.update({f"optimizer.{name}": array for name, array in arrays.items()})
    if training_state is not None:
        metadata[TRAINING_KEY] = json.dumps(training_state)
    safetensors.save_file(tensors, path, metadata)


def optimizer_state_from(path, tensors: dict, metadata: dict) -> dict:
    """The optimizer ``state_dict()`` saved by :func:`save_checkpoint` in a checkpoint's entries."""
    if OPTIMIZER_KEY not in metadata:
        raise ValueError(f"ember.diffusion: {str(path)!r} holds no optimizer state (it was saved for sampling, "
                         f"without optimizer=); training cannot resume from it")
    arrays = {name[len("optimizer."):]: value for name, value in tensors.items() if name.startswith("optimizer.")}
    try:
        state = from_arrays(metadata[OPTIMIZER_KEY], arrays)
        if not (isinstance(state, dict) and isinstance(state.get("state"), dict)
                and all(isinstance(entries, dict) for entries in state["state"].values())
                and isinstance(state.get("param_groups"), list)):
            raise ValueError("not an optimizer's state_dict()")
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise ValueError(f"ember.diffusion: {str(path)!r}: its optimizer state is unreadable "
                         f"({type(error).__name__}: {error})") from None
    return state


def read_checkpoint(path) -> tuple[DiffusionConfig, dict, dict]:
    """``(config, tensors, metadata)`` of a checkpoint written by :func:`save_checkpoint`."""
    tensors, metadata = safetensors.load_file(path)
    if CONFIG_KEY not in metadata:
        raise ValueError(f"ember.diffusion: {str(path)!r} is a safetensors file without a diffusion configuration "
                         f"(metadata {CONFIG_KEY!r}); was it written by save_checkpoint?")
    return DiffusionConfig.from_json(metadata[CONFIG_KEY], str(path)), tensors, metadata


def check_configuration(path, found: DiffusionConfig, expected: DiffusionConfig) -> None:
    """Refuse a checkpoint's configuration ``found`` unless it is ``expected``, naming the entries that differ."""
    if found != expected:
        differences = {name: (getattr(found, name), getattr(expected, name))
                       for name in (field.name for field in dataclasses.fields(found))
                       if getattr(found, name) != getattr(expected, name)}
        raise ValueError(f"ember.diffusion: {str(path)!r} holds another configuration; "
                         + ", ".join(f"{name}: checkpoint {a!r}, expected {b!r}" for name, (a, b) in
                                     differences.items()))


def load_checkpoint(path, expected: DiffusionConfig | None = None, weights: str = "ema") -> DiffusionModel:
    """Rebuild the model stored at ``path`` from its own configuration and load its weights (``"ema"``: the
    averaged ones when present, ``"model"``: the trained ones). With ``expected``, a checkpoint of another
    configuration is refused, naming the entries that differ."""
    if weights not in ("ema", "model"):
        raise ValueError(f"load_checkpoint: weights must be 'ema' or 'model', received {weights!r}")
    config, tensors, _ = read_checkpoint(path)
    if expected is not None:
        check_configuration(path, config, expected)
    model = DiffusionModel(config)
    prefix = "ema.module." if weights == "ema" and any(k.startswith("ema.module.") for k in tensors) else "model."
    load_entries(path, model, tensors, prefix)
    return model


def load_entries(path, module: nn.Module, tensors: dict, prefix: str) -> None:
    """Load the checkpoint entries ``prefix + name`` into ``module``'s state, refusing names or shapes that
    differ from the module's."""
    state = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
    expected_shapes = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    found_shapes = {name: tuple(value.shape) for name, value in state.items()}
    if expected_shapes != found_shapes:
        wrong = sorted(set(expected_shapes.items()) ^ set(found_shapes.items()))[:4]
        raise ValueError(f"ember.diffusion: {str(path)!r}: its tensors do not match its configuration "
                         f"(first differences: {wrong})")
    module.load_state_dict({name: _functions.tensor(value) for name, value in state.items()})
