"""The PyTorch program equivalent to ``ember diffusion train``, then DDIM sampling for the Fréchet distance
(benchmark venv only):

    EMBER_DATA=../shared/data PYTHONPATH=src .bench-venv/bin/python benchmarks/diffusion_torch_train.py \\
        --steps 20000 --out runs/diffusion/torch32.safetensors --samples 10000 \\
        --samples-out runs/torch-samples.npy
    EMBER_DATA=../shared/data PYTHONPATH=src .bench-venv/bin/python benchmarks/diffusion_torch_train.py --check

The model is the twin of ``ember.diffusion.DiffusionModel`` in benchmarks/diffusion_torch.py, starting from
the weights of a fresh Ember model built after ``ember.manual_seed(--seed)`` (as ``ember.diffusion.train``
builds it). Every step draws from one NumPy generator seeded with ``--seed``, in Ember's order: the batch's
image indices, each label's phrasing, the timesteps, the noise ε, the condition-dropout mask. The loss is the
ε MSE, the optimizer ``torch.optim.AdamW`` with Ember's defaults (learning rate 5e-4, betas (0.9, 0.999), eps
1e-8, weight decay 0), the average ``AveragedModel`` with ``get_ema_multi_avg_fn(0.995)``. The checkpoint is
written in Ember's format (``model.*``, ``ema.*``, the configuration in the metadata), so
``ember diffusion sample`` and ``diffusion_eval.py --checkpoint`` read it too.

``--samples N`` then draws N samples with the averaged weights, with the sampler of ``diffusion_eval.py
--fid``: DDIM ``--sample-steps`` (50), guidance ``--guidance`` (2), sample i prompted with digit i mod 10 in
evaluation phrasing (i div 10) mod 2, batch b of ``--sample-batch`` starting from the noise of the NumPy
generator seeded with (``--sample-seed``, b); written to ``--samples-out`` after every batch (resumed when
present) for ``diffusion_eval.py --samples-in``.

``--check`` compares the twin with Ember from the same weights and batch: forward outputs with the condition
dropped for some rows, the loss and the gradients of one training step, the weights after one AdamW step, the
loss of a second step, and 4 DDIM steps of guided sampling from the same noise; it prints the largest
differences and fails when one exceeds its tolerance. On a loaded host, ``--threads 1`` keeps PyTorch's two
OpenMP threads from waiting on each other (see BENCHMARKS.md, Diffusion).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

import ember
from ember.diffusion import DiffusionConfig, DiffusionModel, NoiseSchedule, encode_prompts, mnist_images
from ember.diffusion.model import CONFIG_KEY
from ember.diffusion.text import VOCABULARY, random_prompts
from ember.io import safetensors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffusion_eval  # the sample files and the prompt cycle of the Ember measurement
import diffusion_torch  # the twin beside this file (after the path insert above)


def twin_from_ember(config: DiffusionConfig, seed: int):
    """A fresh Ember ``DiffusionModel`` built after ``ember.manual_seed(seed)`` and its PyTorch twin holding
    the same weights."""
    ember.manual_seed(seed)
    ember_model = DiffusionModel(config)
    torch_model = diffusion_torch.DiffusionModel(config, len(VOCABULARY))
    state = {name: torch.from_numpy(np.array(value.numpy(), copy=True)) for name, value in
             ember_model.state_dict().items()}
    torch_model.load_state_dict(state, strict=True)
    return ember_model, torch_model


def draw_batch(images, labels, batch_size, timesteps, condition_dropout, rng):
    """One training batch in the order of ``ember.diffusion.train`` and ``DiffusionModel.loss``: indices,
    phrasings, timesteps, noise, dropout mask."""
    batch = rng.integers(0, len(images), size=batch_size)
    prompts = random_prompts(labels[batch], rng)
    t = rng.integers(0, timesteps, size=batch_size)
    noise = rng.standard_normal(images[batch].shape, dtype=np.float32)
    drop = rng.random(batch_size) < condition_dropout
    return images[batch], prompts, t, noise, drop


def torch_loss(model, alphas_cumprod, images, prompts, t, noise, drop):
    x0, eps = torch.from_numpy(images), torch.from_numpy(noise)
    x_t = diffusion_torch.q_sample(alphas_cumprod, x0, t, eps)
    ids = torch.from_numpy(encode_prompts(prompts))
    predicted = model(x_t, torch.from_numpy(t), ids, torch.from_numpy(drop))
    return torch.nn.functional.mse_loss(predicted, eps)


def save_ember_checkpoint(config, model, ema, path, extra):
    """The twin's weights and averaged weights in ``ember.diffusion.save_checkpoint``'s format."""
    tensors = {f"model.{k}": v.detach().numpy().copy() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().numpy().copy() for k, v in ema.state_dict().items()})
    metadata = {CONFIG_KEY: config.to_json(), "framework": f"pytorch {torch.__version__}",
                **{k: str(v) for k, v in extra.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    safetensors.save_file(tensors, path, metadata)


def train(config, steps, batch_size, learning_rate, ema_decay, images, labels, seed, out=None, save_every=500):
    """Train the twin as ``ember.diffusion.train`` trains Ember's model; returns (model, ema, losses)."""
    _, model = twin_from_ember(config, seed)
    rng = np.random.default_rng(seed)
    alphas_cumprod = NoiseSchedule(config.timesteps, config.schedule).alphas_cumprod
    ema = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema_decay))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=0.0)
    losses: list = []
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        loss = torch_loss(model, alphas_cumprod, *draw_batch(images, labels, batch_size, config.timesteps,
                                                             config.condition_dropout, rng))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)
        losses.append(float(loss.item()))
        if out is not None and (step % save_every == 0 or step == steps):
            elapsed = time.perf_counter() - start
            save_ember_checkpoint(config, model, ema, out, {"step": step, "seconds": f"{elapsed:.1f}",
                                                            "loss_last_100": f"{np.mean(losses[-100:]):.5f}"})
            print(f"step {step}: loss (last 100) {np.mean(losses[-100:]):.4f}, {elapsed:.0f} s, saved {out}",
                  flush=True)
        elif step % 100 == 0 or step == steps:
            print(f"step {step}: loss (last 100) {np.mean(losses[-100:]):.4f}, {time.perf_counter() - start:.0f} s",
                  flush=True)
    return model, ema, losses


def sample(model, config, count, steps, guidance, batch, seed, samples_out=None):
    """``count`` guided DDIM samples, drawn as ``diffusion_eval.py --fid`` draws them (resumed from
    ``samples_out`` when it holds some)."""
    schedule = NoiseSchedule(config.timesteps, config.schedule)
    timesteps = schedule.sampling_timesteps(steps)
    done = np.zeros((0, config.in_channels, config.image_size, config.image_size), dtype=np.float32)
    if samples_out and os.path.exists(samples_out):
        done = diffusion_eval.load_samples(samples_out, count)
        print(f"{samples_out}: {len(done)} samples already drawn", flush=True)
    done = done[:len(done) - len(done) % batch] if len(done) < count else done
    parts, start_time, drawn = [done], time.perf_counter(), 0
    for start in range(len(done), count, batch):
        stop = min(start + batch, count)
        prompts, _ = diffusion_eval.fid_prompts(start, stop)
        rng = np.random.default_rng([seed, start // batch])
        noise = rng.standard_normal((stop - start, config.in_channels, config.image_size, config.image_size),
                                    dtype=np.float32)
        images = diffusion_torch.ddim_sample(model, torch.from_numpy(encode_prompts(prompts)),
                                             torch.from_numpy(noise), timesteps, schedule.alphas_cumprod, guidance)
        parts.append(images.numpy().astype(np.float32))
        drawn += stop - start
        elapsed = time.perf_counter() - start_time
        print(f"samples {stop}/{count}: {elapsed / drawn:.2f} s/sample, "
              f"{(count - stop) * elapsed / drawn / 60:.1f} min left, load {os.getloadavg()[0]:.1f}", flush=True)
        if samples_out:
            diffusion_eval.save_samples(np.concatenate(parts), samples_out)
    return np.concatenate(parts)[:count]


def _relative_difference(ember_grad, torch_grad) -> float:
    """Largest |difference| of two gradients over the largest |torch gradient|; None (unused) counts as 0."""
    a = np.zeros(1) if ember_grad is None else ember_grad.numpy()
    b = np.zeros(1) if torch_grad is None else torch_grad.numpy()
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-12)


def check(config, batch_size=8, seed=0) -> dict:
    """Largest differences between Ember and the twin from the same weights and batch (see the module doc)."""
    ember_model, torch_model = twin_from_ember(config, seed)
    data_rng = np.random.default_rng(seed)
    images = data_rng.uniform(-1.0, 1.0, (4 * batch_size, 1, config.image_size, config.image_size)).astype(np.float32)
    labels = data_rng.integers(0, 10, 4 * batch_size)
    alphas_cumprod = ember_model.schedule.alphas_cumprod
    x0, prompts, t, noise, _ = draw_batch(images, labels, batch_size, config.timesteps, 0.0, np.random.default_rng(1))
    drop = np.arange(batch_size) % 3 == 0  # some rows with the null condition
    ids = encode_prompts(prompts)
    x_t = (np.sqrt(alphas_cumprod[t]).reshape(-1, 1, 1, 1) * x0
           + np.sqrt(1.0 - alphas_cumprod[t]).reshape(-1, 1, 1, 1) * noise).astype(np.float32)
    result = {}
    with ember.no_grad(), torch.no_grad():
        e_out = ember_model(ember.tensor(x_t), t, ember.tensor(ids), drop).numpy()
        t_out = torch_model(torch.from_numpy(x_t), torch.from_numpy(t), torch.from_numpy(ids),
                            torch.from_numpy(drop)).numpy()
    result["forward"] = float(np.abs(e_out - t_out).max())

    # one training step from the same draws: Ember's loss() consumes the generator as draw_batch() does
    e_optimizer = ember.optim.AdamW(ember_model.parameters(), lr=5e-4, weight_decay=0.0)
    t_optimizer = torch.optim.AdamW(torch_model.parameters(), lr=5e-4, weight_decay=0.0)
    losses = []
    for step in range(2):
        e_rng, t_rng = np.random.default_rng(10 + step), np.random.default_rng(10 + step)
        batch = e_rng.integers(0, len(images), size=batch_size)
        e_loss = ember_model.loss(ember.tensor(images[batch]), random_prompts(labels[batch], e_rng), e_rng)
        t_loss = torch_loss(torch_model, alphas_cumprod,
                            *draw_batch(images, labels, batch_size, config.timesteps, config.condition_dropout,
                                        t_rng))
        e_optimizer.zero_grad()
        e_loss.backward()
        t_optimizer.zero_grad()
        t_loss.backward()
        losses.append((float(e_loss.item()), float(t_loss.item())))
        if step == 0:
            result["gradient"] = max(_relative_difference(e.grad, t.grad) for e, t in
                                     zip(ember_model.parameters(), torch_model.parameters()))
            gradients = [None if p.grad is None else p.grad.numpy().copy() for p in torch_model.parameters()]
        e_optimizer.step()
        t_optimizer.step()
        if step == 0:
            # Adam's first step is lr·g/(|g| + eps) ≈ ±lr: where a gradient is rounding noise (|g| below 1e-5 of
            # its parameter's largest) the two frameworks' noise may differ in sign, so those entries are left out
            differences, skipped, total = [], 0, 0
            for e, t, g in zip(ember_model.parameters(), torch_model.parameters(), gradients):
                if g is None:
                    continue
                clear = np.abs(g) > 1e-5 * np.abs(g).max()
                skipped, total = skipped + int((~clear).sum()), total + g.size
                if clear.any():
                    differences.append(float(np.abs(e.numpy() - t.detach().numpy())[clear].max()))
            result["weights_after_step1"] = max(differences)
            print(f"weights compared after one AdamW step where |gradient| > 1e-5 of its parameter's largest: "
                  f"{total - skipped} of {total} entries")
    result["loss_step1"] = abs(losses[0][0] - losses[0][1])
    result["loss_step2"] = abs(losses[1][0] - losses[1][1])
    prompts = ["the digit 7", "a handwritten three", "5", "nine"]
    noise0 = np.random.default_rng(3).standard_normal((4, 1, config.image_size, config.image_size), dtype=np.float32)
    e_samples = ember_model.sample(prompts, steps=4, guidance=2.0, rng=np.random.default_rng(3), progress=False)
    timesteps = ember_model.schedule.sampling_timesteps(4)
    t_samples = diffusion_torch.ddim_sample(torch_model, torch.from_numpy(encode_prompts(prompts)),
                                            torch.from_numpy(noise0), timesteps, alphas_cumprod, 2.0).numpy()
    result["ddim_4_steps"] = float(np.abs(e_samples - t_samples).max())
    print(f"twin check ({config.channels} channels, batch {batch_size}): losses Ember/PyTorch "
          + ", ".join(f"step {i + 1} {a:.6f}/{b:.6f}" for i, (a, b) in enumerate(losses)))
    print("largest differences: " + ", ".join(f"{k} {v:.2e}" for k, v in result.items())
          + " (gradient: relative to the largest gradient of each parameter)")
    return result


TOLERANCES = {"forward": 1e-4, "gradient": 1e-3, "loss_step1": 1e-5, "loss_step2": 1e-4,
              "weights_after_step1": 1e-5, "ddim_4_steps": 1e-3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare the twin with Ember, then stop")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--channel-multipliers", default="1,2,2")
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=1000)
    parser.add_argument("--schedule", choices=("linear", "cosine"), default="linear")
    parser.add_argument("--text-width", type=int, default=64)
    parser.add_argument("--text-layers", type=int, default=2)
    parser.add_argument("--condition-dropout", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--ema-decay", type=float, default=0.995)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--out", default="runs/diffusion/torch.safetensors")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=0, help="guided samples to draw after training")
    parser.add_argument("--samples-out", default="runs/torch-samples.npy")
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--sample-batch", type=int, default=100)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--sample-only", action="store_true", help="sample from --out without training")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = DiffusionConfig(channels=args.channels,
                             channel_multipliers=tuple(int(m) for m in args.channel_multipliers.split(",")),
                             groups=args.groups, timesteps=args.timesteps, schedule=args.schedule,
                             text_width=args.text_width, text_layers=args.text_layers,
                             condition_dropout=args.condition_dropout)
    print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), load {os.getloadavg()[0]:.1f}",
          flush=True)
    if args.check:
        result = check(config)
        failed = {k: v for k, v in result.items() if not v <= TOLERANCES[k]}
        if failed:
            sys.exit(f"the twin differs from Ember beyond the tolerances {TOLERANCES}: {failed}")
        print("the twin agrees with Ember")
        return
    if args.sample_only:
        from ember.diffusion import read_checkpoint

        config, tensors, _ = read_checkpoint(args.out)
        model = diffusion_torch.DiffusionModel(config, len(VOCABULARY))
        prefix = "ema.module." if any(k.startswith("ema.module.") for k in tensors) else "model."
        model.load_state_dict({k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in tensors.items()
                               if k.startswith(prefix)})
    else:
        images, labels = mnist_images(args.data_dir, args.limit)
        print(f"training the PyTorch twin, {config}, for {args.steps} steps, batch {args.batch}, on {len(images)} "
              f"images", flush=True)
        start = time.perf_counter()
        _, ema, losses = train(config, args.steps, args.batch, args.lr, args.ema_decay, images, labels, args.seed,
                               args.out, args.save_every)
        elapsed = time.perf_counter() - start
        print(f"trained {args.steps} steps in {elapsed:.1f} s ({elapsed / args.steps:.3f} s/step); loss (last "
              f"{len(losses[-100:])}) {np.mean(losses[-100:]):.4f}; wrote {args.out}", flush=True)
        model = ema.module
    if args.samples:
        sample(model, config, args.samples, args.sample_steps, args.guidance, args.sample_batch, args.sample_seed,
               args.samples_out)
        print(f"wrote {args.samples_out}: {args.samples} samples (DDIM {args.sample_steps} steps, guidance "
              f"{args.guidance}); score them with diffusion_eval.py --samples-in {args.samples_out}")


if __name__ == "__main__":
    main()
