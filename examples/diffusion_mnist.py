"""Train the text-conditioned diffusion model with a hand-written loop, then draw one row per digit.

The same as ``ember diffusion train`` / ``ember diffusion sample``, spelled out: batches of MNIST images with a
random phrasing of each label, the ε-prediction loss, AdamW, an exponential moving average of the weights,
and guided DDIM sampling from the average.

    EMBER_DATA=../shared/data python examples/diffusion_mnist.py --steps 5000 --out runs/diffusion_example
"""
import argparse
from pathlib import Path

import numpy as np

import ember
from ember.diffusion import (
    DiffusionConfig, DiffusionModel, image_grid, mnist_images, save_checkpoint, write_png,
)
from ember.diffusion.text import random_prompts
from ember.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from ember.progress import trange


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--out", default="runs/diffusion_example")
    args = parser.parse_args()

    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    images, labels = mnist_images(limit=args.limit)  # (N, 1, 28, 28) in [-1, 1], (N,)
    model = DiffusionModel(DiffusionConfig(channels=args.channels))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.995))
    optimizer = ember.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    for _ in (bar := trange(args.steps, desc="training")):
        batch = rng.integers(0, len(images), size=args.batch)
        loss = model.loss(ember.tensor(images[batch]), random_prompts(labels[batch], rng), rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.4f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out / "model.safetensors", ema)
    prompts = [f"the digit {digit}" for digit in range(10) for _ in range(10)]
    samples = ema.module.sample(prompts, steps=args.sample_steps, sampler="ddim", guidance=2.0)
    write_png(image_grid(samples, columns=10), out / "digits.png")
    print(f"wrote {out / 'model.safetensors'} and {out / 'digits.png'} (one row per digit)")


if __name__ == "__main__":
    main()
