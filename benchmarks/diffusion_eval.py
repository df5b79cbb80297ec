"""How often does the diffusion model draw the digit it is asked for? One command, from a checkpoint:

    EMBER_DATA=../shared/data PYTHONPATH=src .venv/bin/python benchmarks/diffusion_eval.py \\
        --checkpoint runs/diffusion/cpu32.safetensors --classifier runs/classifier.keras [--n 10] [--grid out.png]

If ``--classifier`` does not exist, the codelab's batch-norm convnet is trained first (``--classifier-epochs``,
default 5) and saved there; its test accuracy is printed. Then ``--n`` guided samples (DDIM, ``--steps`` 50,
``--guidance`` 2) are drawn for each digit and each evaluation phrasing ("the digit 7", "a handwritten seven"),
and the share the classifier reads as the prompted digit is printed, overall and per digit. ``--grid`` writes
one row per digit (the first phrasing) as a PNG.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import ember
from ember.diffusion import (
    EVALUATION_TEMPLATES, image_grid, load_checkpoint, load_classifier, prompt_for, read_checkpoint,
    recognition_rate, train_digit_classifier, write_png,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--classifier", default="runs/classifier.keras")
    parser.add_argument("--classifier-epochs", type=int, default=5)
    parser.add_argument("--n", type=int, default=10, help="samples per digit and phrasing (default 10)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--weights", choices=("ema", "model"), default="ema")
    parser.add_argument("--grid", default=None, help="PNG with 10 samples of each digit, one row per digit")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    if not Path(args.classifier).exists():
        accuracy = train_digit_classifier(args.classifier, args.classifier_epochs, args.data_dir)
        print(f"trained the classifier ({args.classifier_epochs} epochs): test accuracy {accuracy:.4f}")
    classifier = load_classifier(args.classifier)
    _, _, metadata = read_checkpoint(args.checkpoint)
    model = load_checkpoint(args.checkpoint, weights=args.weights)
    print(f"checkpoint {args.checkpoint}: step {metadata.get('step', '?')}, {metadata.get('seconds', '?')} s of "
          f"training, loss {metadata.get('loss_last_100', '?')}")
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
