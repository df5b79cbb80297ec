"""``ember diffusion train`` and ``ember diffusion sample``: train the digit-drawing model, draw a PNG grid."""
from __future__ import annotations

import json
import sys
import time


# the training flags that set a DiffusionConfig entry: flag destination → configuration field
CONFIG_FLAGS = {"channels": "channels", "channel_multipliers": "channel_multipliers", "groups": "groups",
                "timesteps": "timesteps", "schedule": "schedule", "text_width": "text_width",
                "text_layers": "text_layers", "condition_dropout": "condition_dropout"}


def _config_from(arguments, base):
    """``base`` (a DiffusionConfig) with the configuration flags given on the command line."""
    import dataclasses

    given = {field: getattr(arguments, flag) for flag, field in CONFIG_FLAGS.items()
             if getattr(arguments, flag) is not None}
    if "channel_multipliers" in given:
        given["channel_multipliers"] = tuple(int(m) for m in given["channel_multipliers"].split(","))
    return dataclasses.replace(base, **given)


def run_train(arguments) -> int:
    from ..datasets.download import DownloadError
    from .model import DiffusionConfig, check_configuration, read_checkpoint
    from .training import mnist_images, train

    try:
        # resuming: the checkpoint's configuration, which flags given again must agree with
        base = read_checkpoint(arguments.resume)[0] if arguments.resume else DiffusionConfig()
        config = _config_from(arguments, base)
        if arguments.resume:
            check_configuration(arguments.resume, base, config)
        images, labels = mnist_images(arguments.data_dir, arguments.limit)
        print(f"training {config} for {arguments.steps} steps, batch {arguments.batch}, on {len(images)} images"
              + (f", resuming {arguments.resume}" if arguments.resume else ""), flush=True)
        start = time.perf_counter()
        _, _, losses = train(config, arguments.steps, arguments.batch, arguments.lr, arguments.out,
                             arguments.save_every, arguments.ema_decay, images, labels, seed=arguments.seed,
                             log=lambda line: print(line, flush=True), resume=arguments.resume)
    except DownloadError as error:  # no MNIST in the data root, and none to download
        print(f"ember diffusion train: {error}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as error:
        print(f"ember diffusion train: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    if not losses:
        print(f"nothing to train: {arguments.resume} already holds {arguments.steps} steps")
        return 0
    tail = losses[-100:]
    print(f"trained {len(losses)} steps in {elapsed:.1f} s ({elapsed / len(losses):.3f} s/step); "
          f"loss (last {len(tail)}) {sum(tail) / len(tail):.4f}; wrote {arguments.out}")
    return 0


def run_sample(arguments) -> int:
    from .. import manual_seed
    from .model import load_checkpoint
    from .training import image_grid, write_png

    manual_seed(arguments.seed)
    start = time.perf_counter()
    try:
        model = load_checkpoint(arguments.checkpoint, weights=arguments.weights)
        images = model.sample([arguments.prompt] * arguments.n, steps=arguments.steps, sampler=arguments.sampler,
                              guidance=arguments.guidance, eta=arguments.eta, progress=True)
    except (ValueError, FileNotFoundError) as error:
        print(f"ember diffusion sample: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    write_png(image_grid(images), arguments.out)
    print(f"wrote {arguments.out}: {arguments.n} samples of {arguments.prompt!r} ({arguments.sampler}, "
          f"{arguments.steps} steps, guidance {arguments.guidance}) in {elapsed:.1f} s "
          f"({elapsed / arguments.n:.3f} s/image)")
    return 0


def run_evaluate(arguments) -> int:
    from .evaluate import load_classifier, recognition_rate
    from .model import load_checkpoint

    model = load_checkpoint(arguments.checkpoint, weights=arguments.weights)
    result = recognition_rate(model, load_classifier(arguments.classifier), arguments.n, arguments.steps,
                              arguments.sampler, arguments.guidance, seed=arguments.seed)
    print(json.dumps(result))
    return 0


def add_parser(commands) -> None:
    """Add ``diffusion`` with its ``train``, ``sample`` and ``evaluate`` subcommands to ``commands``."""
    parser = commands.add_parser("diffusion", help="train a text-conditioned diffusion model on MNIST, draw digits")
    actions = parser.add_subparsers(dest="action", required=True)

    train = actions.add_parser("train", help="train on MNIST, writing safetensors checkpoints")
    train.add_argument("--steps", type=int, default=20000, help="steps in all, those of --resume included")
    # configuration flags default to None: DiffusionConfig's defaults, or --resume's configuration
    train.add_argument("--channels", type=int, help="UNet base channels (default 32)")
    train.add_argument("--channel-multipliers", help="per resolution (default 1,2,2)")
    train.add_argument("--groups", type=int, help="GroupNorm groups (default 8)")
    train.add_argument("--timesteps", type=int, help="diffusion steps T (default 1000)")
    train.add_argument("--schedule", choices=("linear", "cosine"), help="noise schedule (default linear)")
    train.add_argument("--text-width", type=int, help="text encoder width (default 64)")
    train.add_argument("--text-layers", type=int, help="text encoder layers (default 2)")
    train.add_argument("--condition-dropout", type=float, help="share of prompts dropped (default 0.1)")
    train.add_argument("--resume", default=None, help="a checkpoint written by train to continue from "
                                                      "(its configuration; flags given must agree)")
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (default 5e-4)")
    train.add_argument("--ema-decay", type=float, default=0.995)
    train.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (default 500)")
    train.add_argument("--out", default="diffusion.safetensors")
    train.add_argument("--data-dir", default=None, help="data root holding mnist/ (default: $EMBER_DATA)")
    train.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=run_train)

    sample = actions.add_parser("sample", help="draw a grid of digits for a prompt into a PNG file")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--prompt", required=True, help='e.g. "seven", "7", "a handwritten seven"')
    sample.add_argument("--n", type=int, default=16)
    sample.add_argument("--steps", type=int, default=50)
    sample.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    sample.add_argument("--guidance", type=float, default=2.0)
    sample.add_argument("--eta", type=float, default=0.0, help="DDIM's eta (default 0: deterministic)")
    sample.add_argument("--weights", choices=("ema", "model"), default="ema")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", default="grid.png")
    sample.set_defaults(run=run_sample)

    evaluate = actions.add_parser("evaluate", help="the share of guided samples an MNIST classifier reads as "
                                                   "the prompted digit")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--classifier", required=True, help=".keras file (benchmarks/diffusion_eval.py)")
    evaluate.add_argument("--n", type=int, default=10, help="samples per digit and phrasing (default 10)")
    evaluate.add_argument("--steps", type=int, default=50)
    evaluate.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    evaluate.add_argument("--guidance", type=float, default=2.0)
    evaluate.add_argument("--weights", choices=("ema", "model"), default="ema")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(run=run_evaluate)

