"""Run steps of the MNIST codelab for several seeds and summarise test accuracy (mean of seeds).

    python examples/codelab/run_steps.py --steps dense relu_adam lr_decay --seeds 0 1 2 --out runs/codelab

Each run writes ``<out>/<step>-seed<seed>/`` (metrics.json and figures, see ``ember mnist --out``); the summary
goes to ``<out>/summary.json`` and is printed as a Markdown table.
"""
import argparse
import json
import statistics
from pathlib import Path

from ember.tutorials import mnist_codelab


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", nargs="+", default=sorted(mnist_codelab.STEPS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/codelab")
    args = parser.parse_args(argv)

    out = Path(args.out)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for step in args.steps:
        for seed in args.seeds:
            run_dir = out / f"{step}-seed{seed}"
            results = mnist_codelab.train(step, epochs=args.epochs, data_dir=args.data_dir, out=run_dir, seed=seed)
            summary.setdefault(step, {})[str(seed)] = {
                key: results[key] for key in ("test_accuracy", "test_loss", "epochs", "batch_size",
                                              "seconds_per_epoch")
            }
            print(f"{step} seed {seed}: test accuracy {results['test_accuracy']:.4f} "
                  f"({results['seconds_per_epoch']:.1f} s/epoch)", flush=True)
            out.mkdir(parents=True, exist_ok=True)
            temporary = out / ".summary.json.tmp"
            temporary.write_text(json.dumps(summary, indent=1))
            temporary.replace(summary_path)
    print("| step | epochs | batch | seeds | test accuracy (mean) | min | max | s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for step, runs in summary.items():
        accuracies = [run["test_accuracy"] for run in runs.values()]
        first = next(iter(runs.values()))
        print(f"| {step} | {first['epochs']} | {first['batch_size']} | {len(runs)} | "
              f"{100 * statistics.mean(accuracies):.2f}% | {100 * min(accuracies):.2f}% | "
              f"{100 * max(accuracies):.2f}% | {statistics.mean(r['seconds_per_epoch'] for r in runs.values()):.1f} |")


if __name__ == "__main__":
    main()
