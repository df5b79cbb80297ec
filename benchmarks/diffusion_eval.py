"""How well does the diffusion model draw digits? Two scores, from a checkpoint:

    EMBER_DATA=../shared/data PYTHONPATH=src .venv/bin/python benchmarks/diffusion_eval.py \\
        --checkpoint runs/diffusion/cpu32.safetensors --classifier runs/classifier.keras [--n 10] [--grid out.png]

If ``--classifier`` does not exist, the codelab's batch-norm convnet is trained first (``--classifier-epochs``,
default 5) and saved there; its test accuracy is printed. Then ``--n`` guided samples (DDIM, ``--steps`` 50,
``--guidance`` 2) are drawn for each digit and each evaluation phrasing ("the digit 7", "a handwritten seven"),
and the share the classifier reads as the prompted digit is printed, overall and per digit. ``--grid`` writes
one row per digit (the first phrasing) as a PNG.

The Fréchet distance (``--fid N``) between the classifier's penultimate-layer features of N guided samples and
of the 10,000 MNIST test images:

    ... diffusion_eval.py --checkpoint ckpt.safetensors --fid 10000 --samples-out runs/ember-samples.npy
    ... diffusion_eval.py --samples-in runs/torch-samples.npy      # samples drawn elsewhere (PyTorch)

Sample i is prompted with digit i mod 10 in evaluation phrasing (i div 10) mod 2, drawn in batches of
``--batch`` whose noise comes from the generator seeded with (``--seed``, batch index); ``--samples-out`` is
rewritten after every batch, and a run given an existing ``--samples-out`` draws only the samples still
missing, so an interrupted run resumes where it stopped, with the same samples.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import ember
from ember.diffusion import (
    EVALUATION_TEMPLATES, classifier_features, classify_digits, frechet_distance, image_grid, load_checkpoint,
    load_classifier, prompt_for, read_checkpoint, recognition_rate, train_digit_classifier, write_png,
)


def fid_prompts(start: int, stop: int) -> tuple[list, np.ndarray]:
    """Prompts and their digits for samples start … stop-1: digit i mod 10, phrasing (i div 10) mod 2."""
    indices = np.arange(start, stop)
    digits = indices % 10
    templates = (indices // 10) % len(EVALUATION_TEMPLATES)
    return [prompt_for(int(d), EVALUATION_TEMPLATES[t]) for d, t in zip(digits, templates)], digits


def load_samples(path, expected: int | None = None) -> np.ndarray:
    """Samples (N, 1, 28, 28) float32 in [-1, 1] from a ``.npy`` file; a clear error for anything else."""
    samples = np.load(path)
    if samples.ndim == 3:
        samples = samples[:, None]
    if samples.ndim != 4 or samples.shape[1:] != (1, 28, 28):
        sys.exit(f"diffusion_eval: {path} holds an array of shape {samples.shape}; expected (N, 1, 28, 28)")
    if not np.isfinite(samples).all() or samples.min() < -1.0001 or samples.max() > 1.0001:
        sys.exit(f"diffusion_eval: {path}: samples must be finite and in [-1, 1], found "
                 f"[{np.nanmin(samples):.3g}, {np.nanmax(samples):.3g}]")
    if expected is not None and len(samples) > expected:
        samples = samples[:expected]
    return samples.astype(np.float32)


def save_samples(samples: np.ndarray, path) -> None:
    """Write ``samples`` to ``path`` through a temporary file renamed when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial.npy")
    np.save(temporary, samples)
    os.replace(temporary, path)


def draw_fid_samples(model, count: int, steps: int, sampler: str, guidance: float, batch: int, seed: int,
                     samples_out=None) -> np.ndarray:
    """``count`` guided samples, resuming from ``samples_out`` when it already holds some."""
    done = np.zeros((0, 1, 28, 28), dtype=np.float32)
    if samples_out and Path(samples_out).exists():
        done = load_samples(samples_out, count)
        print(f"{samples_out}: {len(done)} samples already drawn", flush=True)
    done = done[:len(done) - len(done) % batch] if len(done) < count else done  # whole batches only
    parts = [done]
    start_time, drawn = time.perf_counter(), 0
    for start in range(len(done), count, batch):
        stop = min(start + batch, count)
        prompts, _ = fid_prompts(start, stop)
        rng = np.random.default_rng([seed, start // batch])
        parts.append(model.sample(prompts, steps=steps, sampler=sampler, guidance=guidance, rng=rng,
                                  progress=False))
        drawn += stop - start
        elapsed = time.perf_counter() - start_time
        left = (count - stop) * elapsed / drawn
        print(f"samples {stop}/{count}: {elapsed / drawn:.2f} s/sample, {left / 60:.1f} min left, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        if samples_out:
            save_samples(np.concatenate(parts), samples_out)
    return np.concatenate(parts)[:count]


def mnist_test_images(data_dir=None) -> np.ndarray:
    """MNIST's 10,000 test images (N, 1, 28, 28) float32 in [-1, 1]."""
    from ember.datasets import mnist

    _, (images, _) = mnist.load_data(data_dir)
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None]


def report_fid(classifier, samples: np.ndarray, data_dir=None, source: str = "") -> dict:
    """Print and return the Fréchet distance of ``samples`` to the test set, the share of samples read as
    their prompted digit, and, for scale, the distance of as many training images to the test set."""
    from ember.diffusion import mnist_images

    start = time.perf_counter()
    reference = classifier_features(classifier, mnist_test_images(data_dir))
    distance = frechet_distance(classifier_features(classifier, samples), reference)
    _, digits = fid_prompts(0, len(samples))
    recognised = float((classify_digits(classifier, samples) == digits).mean())
    training, _ = mnist_images(data_dir, len(samples))
    floor = frechet_distance(classifier_features(classifier, training), reference)
    result = {"frechet_distance": distance, "samples": len(samples), "recognised": recognised,
              "training_images_frechet_distance": floor, "source": source}
    print(f"Fréchet distance to the MNIST test set (classifier features, {reference.shape[1]} wide): "
          f"{distance:.3f} for {len(samples)} samples {source}; recognised as the prompted digit: {recognised:.1%}; "
          f"{len(samples)} MNIST training images: {floor:.3f} ({time.perf_counter() - start:.0f} s)")
    print(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="required unless --samples-in")
    parser.add_argument("--classifier", default="runs/classifier.keras")
    parser.add_argument("--classifier-epochs", type=int, default=5)
    parser.add_argument("--n", type=int, default=10, help="samples per digit and phrasing (default 10)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--weights", choices=("ema", "model"), default="ema")
    parser.add_argument("--grid", default=None, help="PNG with 10 samples of each digit, one row per digit")
    parser.add_argument("--fid", type=int, default=None, metavar="N",
                        help="the Fréchet distance of N guided samples to the MNIST test set")
    parser.add_argument("--samples-out", default=None, help=".npy file for the --fid samples (resumed if present)")
    parser.add_argument("--samples-in", default=None, help=".npy samples (N, 1, 28, 28) in [-1, 1] to score")
    parser.add_argument("--batch", type=int, default=100, help="samples per batch for --fid (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.checkpoint is None and args.samples_in is None:
        parser.error("give --checkpoint (to draw samples) or --samples-in (to score samples drawn elsewhere)")
    if args.samples_in and args.fid is not None:
        parser.error("--fid draws samples from --checkpoint; --samples-in scores a file: give one of them")

    if not Path(args.classifier).exists():
        accuracy = train_digit_classifier(args.classifier, args.classifier_epochs, args.data_dir)
        print(f"trained the classifier ({args.classifier_epochs} epochs): test accuracy {accuracy:.4f}")
    classifier = load_classifier(args.classifier)
    if args.samples_in:
        samples = load_samples(args.samples_in)
        report_fid(classifier, samples, args.data_dir, f"from {args.samples_in}")
        if args.grid:
            write_png(image_grid(samples[:100], columns=10), args.grid)
            print(f"wrote {args.grid} (columns: digits 0-9)")
        return
    _, _, metadata = read_checkpoint(args.checkpoint)
    model = load_checkpoint(args.checkpoint, weights=args.weights)
    print(f"checkpoint {args.checkpoint}: step {metadata.get('step', '?')}, {metadata.get('seconds', '?')} s of "
          f"training, loss {metadata.get('loss_last_100', '?')}")
    if args.fid is not None:
        if args.fid < 2:
            parser.error(f"--fid needs at least 2 samples, received {args.fid}")
        samples = draw_fid_samples(model, args.fid, args.steps, args.sampler, args.guidance, args.batch, args.seed,
                                   args.samples_out)
        report_fid(classifier, samples, args.data_dir, f"({args.sampler}, {args.steps} steps, guidance "
                                                       f"{args.guidance}, {args.weights} weights)")
        if args.grid:
            write_png(image_grid(samples[:100], columns=10), args.grid)
            print(f"wrote {args.grid} (columns: digits 0-9)")
        return
    result = recognition_rate(model, classifier, args.n, args.steps, args.sampler, args.guidance, progress=False)
    print(f"recognised as the prompted digit: {result['rate']:.1%} of {result['count']} samples "
          f"({args.sampler}, {args.steps} steps, guidance {args.guidance}, phrasings {list(EVALUATION_TEMPLATES)}) "
          f"in {result['seconds']:.0f} s")
    print("per digit: " + json.dumps({d: round(r, 2) for d, r in enumerate(result["per_digit"])}))
    if args.grid:
        ember.manual_seed(1)
        rows = [model.sample([prompt_for(d, EVALUATION_TEMPLATES[0])] * 10, args.steps, args.sampler, args.guidance,
                             progress=False) for d in range(10)]
        write_png(image_grid(np.concatenate(rows), columns=10), args.grid)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
