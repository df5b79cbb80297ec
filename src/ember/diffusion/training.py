"""Training the text-conditioned diffusion model on MNIST, and writing digit grids as PNG files."""
from __future__ import annotations

import json
import struct
import time
import zlib

import numpy as np

from .. import functions as _functions
from ..backend import threads
from ..backend.files import atomic_writer
from ..optim import AdamW
from ..optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from ..progress import progress as progress_bar
from .model import (
    TRAINING_KEY, DiffusionConfig, DiffusionModel, check_configuration, load_entries, optimizer_state_from,
    read_checkpoint, save_checkpoint,
)
from .text import random_prompts


def mnist_images(data_dir=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training images (N, 1, 28, 28) float32 scaled to [-1, 1] and labels (N,) int64."""
    from ..datasets import mnist

    (images, labels), _ = mnist.load_data(data_dir)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None], labels.astype(np.int64)


def train(config: DiffusionConfig, steps: int, batch_size: int = 64, learning_rate: float = 5e-4,
          out=None, save_every: int = 500, ema_decay: float = 0.995, images: np.ndarray | None = None,
          labels: np.ndarray | None = None, data_dir=None, seed: int = 0, progress: bool = True,
          log=print, resume=None) -> tuple[DiffusionModel, AveragedModel, list]:
    """Train a :class:`DiffusionModel` for ``steps`` AdamW steps on batches of ``batch_size`` images with a
    random phrasing of each label; keep an exponential moving average (``ema_decay``) of the weights.

    ``images`` (N, 1, H, W) in [-1, 1] and ``labels`` (N,) default to MNIST's training set (``data_dir``).
    With ``out``, a checkpoint is written there every ``save_every`` steps and at the end, holding the
    optimizer's state and the generators' too. ``resume``: such a checkpoint (of the same configuration) to
    continue from, up to ``steps`` steps in all; with the same images and batch size the run then takes the
    same batches, noise and weights as one that was never interrupted. ``learning_rate`` and ``ema_decay``
    are this call's. Returns ``(model, ema, losses)`` (one float per step taken in this call)."""
    from .. import manual_seed
    from ..backend.random import get_rng_state

    if images is None or labels is None:
        images, labels = mnist_images(data_dir)
    if images.shape[-1] != config.image_size or images.shape[1] != config.in_channels:
        raise ValueError(f"ember.diffusion.train: images of shape {images.shape[1:]} do not match the "
                         f"configuration ({config.in_channels}, {config.image_size}, {config.image_size})")
    # Ember's threads take the cores at the first convolution; taken now, every step runs as the next ones
    # do, so a run and a resumed one take the same steps in the same numbers from their first step on
    threads.claim_cores()
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DiffusionModel(config)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
    optimizer = AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    # steps taken and seconds spent before this call (a resumed run's), counted on in its checkpoints
    done, earlier = (0, 0.0) if resume is None else _resume(resume, config, model, ema, optimizer, rng,
                                                            learning_rate)
    if done > steps:
        raise ValueError(f"ember.diffusion.train: {str(resume)!r} was saved after step {done}, beyond the "
                         f"{steps} steps asked for")
    losses: list = []
    start = time.perf_counter()
    bar = progress_bar(total=steps, initial=done, desc="diffusion training", unit="step",
                       disable=not progress or done == steps)
    for step in range(done + 1, steps + 1):
        batch = rng.integers(0, len(images), size=batch_size)
        loss = model.loss(_functions.tensor(images[batch]), random_prompts(labels[batch], rng), rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)
        losses.append(float(loss.item()))
        bar.update(1)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if out is not None and (step % save_every == 0 or step == steps):
            seconds = earlier + time.perf_counter() - start
            save_checkpoint(model, out, ema, extra={"step": step, "seconds": f"{seconds:.1f}",
                                                   "loss_last_100": f"{np.mean(losses[-100:]):.5f}"},
                            optimizer=optimizer, training_state={"step": step, "seconds": seconds,
                                                                 "batches": rng.bit_generator.state,
                                                                 "ember": get_rng_state()})
            if log is not None:
                log(f"step {step}: loss (last 100) {np.mean(losses[-100:]):.4f}, {seconds:.0f} s, saved {out}")
    bar.close()
    return model, ema, losses


def _resume(path, config: DiffusionConfig, model: DiffusionModel, ema: AveragedModel, optimizer, rng,
            learning_rate: float) -> tuple[int, float]:
    """Load a training checkpoint's weights, averaged weights, optimizer state and generator states into the
    fresh ``model``, ``ema``, ``optimizer`` and ``rng``; return the steps it had taken and the seconds spent."""
    from ..backend.random import set_rng_state

    found, tensors, metadata = read_checkpoint(path)
    check_configuration(path, found, config)
    if TRAINING_KEY not in metadata or not any(name.startswith("ema.") for name in tensors):
        raise ValueError(f"ember.diffusion.train: {str(path)!r} holds no training state (it was saved for "
                         f"sampling); training cannot resume from it")
    optimizer_state = optimizer_state_from(path, tensors, metadata)
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    for index, entries in optimizer_state["state"].items():
        for key, value in entries.items():  # Adam's moments have their parameter's shape
            if 0 <= index < len(parameters) and isinstance(value, np.ndarray) \
                    and value.shape != tuple(parameters[index].shape):
                raise ValueError(f"ember.diffusion.train: {str(path)!r}: optimizer state {index} {key!r} has shape "
                                 f"{value.shape}, its parameter {tuple(parameters[index].shape)}")
    load_entries(path, model, tensors, "model.")
    load_entries(path, ema, tensors, "ema.")
    optimizer.load_state_dict(optimizer_state)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    try:
        state = json.loads(metadata[TRAINING_KEY])
        step, seconds = int(state["step"]), float(state["seconds"])
        if step < 0:
            raise ValueError(f"step {step}")
        rng.bit_generator.state = state["batches"]
        set_rng_state(state["ember"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"ember.diffusion.train: {str(path)!r}: its training state is unreadable "
                         f"({type(error).__name__}: {error})") from None
    return step, seconds


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of ``pixels`` (H, W) uint8."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"png_bytes: expected (H, W) uint8 pixels, received {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), pixels], axis=1)  # filter type 0 per row
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + _png_chunk(b"IEND", b""))


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images (N, 1, H, W) in [-1, 1] into one (rows·(H+p)+p, columns·(W+p)+p) uint8 picture, white
    digits on black, ``columns`` default ⌈√N⌉."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"image_grid: expected images (N, 1, H, W), received shape {images.shape}")
    n, _, height, width = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    grid = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding), dtype=np.uint8)
    pixels = ((images[:, 0].clip(-1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8)
    for index in range(n):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top:top + height, left:left + width] = pixels[index]
    return grid


def write_png(pixels: np.ndarray, path) -> None:
    """Write a grayscale PNG atomically: a temporary file beside ``path``, renamed when complete."""
    payload = png_bytes(pixels)
    with atomic_writer(path) as stream:
        stream.write(payload)
