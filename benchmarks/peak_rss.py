"""Peak resident memory of training one workload on one framework, in a process of its own.

    python benchmarks/peak_rss.py FRAMEWORK WORKLOAD POOL.npz --steps 20

Imports only the named framework, trains ``--steps`` steps on the batches of ``POOL.npz`` (arrays ``images``
and ``labels``, written by ``run.py``) and prints one JSON line: ``{"peak_rss_mb": ..., ...}``, the process'
peak resident set at the end (everything: interpreter, libraries, data, model, optimizer state, activations).

The peak is ``VmHWM`` from ``/proc/self/status`` where Linux has it: ``getrusage(RUSAGE_SELF).ru_maxrss``
of a process started by ``subprocess`` also counts the high-water mark of the *parent's* memory at the
moment of the fork (Linux keeps it across ``execve``), so a big parent would hide the child's own peak.
``ru_maxrss`` is reported beside it, and used where ``/proc`` is missing.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys

import numpy as np

import frameworks
from training import Trainer
from workloads import WORKLOADS


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float:
    """This process image's peak resident set size in MiB: ``VmHWM``, else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return ru_maxrss_mb()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=frameworks.NAMES)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("pool", help=".npz file with the arrays 'images' and 'labels'")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    framework = frameworks.load(args.framework, args.torch_threads)
    with np.load(args.pool) as pool:
        images, labels = pool["images"], pool["labels"]
    trainer = Trainer(WORKLOADS[args.workload], framework, images, labels, args.seed)
    for _ in range(args.steps):
        trainer.step()
    print(json.dumps({"framework": args.framework, "workload": args.workload, "steps": args.steps,
                      "loss": trainer.loss_value(), "peak_rss_mb": peak_rss_mb(), "ru_maxrss_mb": ru_maxrss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
