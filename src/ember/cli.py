"""The ``ember`` command.

``ember mnist --step batchnorm`` trains a step of the MNIST codelab; ``ember gpt train`` / ``ember gpt sample``
train a character GPT on tiny Shakespeare and generate from it; ``ember demo`` fits a tiny network with
plain autodiff and prints its loss falling.
"""
from __future__ import annotations

import argparse
import sys
import time


def demo(arguments) -> int:
    """Fit a 1-16-1 tanh network to sin(x) with plain autodiff and gradient descent."""
    import numpy as np

    import ember

    ember.manual_seed(arguments.seed)
    x = ember.linspace(-3.0, 3.0, 128).reshape(-1, 1)
    y = x.sin()
    w1 = (ember.randn(1, 16) * 0.8).requires_grad_()
    b1 = ember.zeros(16, requires_grad=True)
    w2 = (ember.randn(16, 1) * 0.3).requires_grad_()
    b2 = ember.zeros(1, requires_grad=True)
    parameters = [w1, b1, w2, b2]
    start = time.perf_counter()
    for step in range(arguments.steps + 1):
        prediction = (x @ w1 + b1).tanh() @ w2 + b2
        loss = ((prediction - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            for p in parameters:
                p.data -= arguments.lr * p.grad.data
                p.grad = None
        if step % max(arguments.steps // 10, 1) == 0:
            print(f"step {step:5d}  loss {loss.item():.6f}")
    elapsed = time.perf_counter() - start
    print(f"fitted sin(x) with a 1-16-1 tanh network in {elapsed:.2f} s; final loss {loss.item():.6f}")
    return 0 if np.isfinite(loss.item()) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: train and inspect models from the shell.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit a tiny network to sin(x) with autodiff")
    demo_parser.add_argument("--steps", type=int, default=2000)
    demo_parser.add_argument("--lr", type=float, default=0.1)
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.set_defaults(run=demo)
    mnist_parser = commands.add_parser("mnist", help="train a step of the MNIST codelab and report test accuracy")
    from .tutorials import mnist_codelab

    mnist_codelab.add_arguments(mnist_parser)
    mnist_parser.set_defaults(run=mnist_codelab.run)
    gpt_parser = commands.add_parser("gpt", help="train a character GPT on tiny Shakespeare, or sample from it")
    from .tutorials import char_gpt

    char_gpt.add_arguments(gpt_parser)
    return parser


def main(argv=None) -> int:
    arguments = build_parser().parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
