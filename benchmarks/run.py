"""Ember against PyTorch on this CPU, in one run, on the same data and the same initial weights.

    .bench-venv/bin/python benchmarks/run.py                       # everything (5-10 minutes)
    .bench-venv/bin/python benchmarks/run.py --quick               # fewer steps and repeats (2-3 minutes)
    .bench-venv/bin/python benchmarks/run.py --only mlp micro      # some workloads and/or sections
    .bench-venv/bin/python benchmarks/run.py --json runs/bench.json

Sections: the correctness guard, training time per step and per epoch, inference throughput, the FLOP floor
(FLOPs over this machine's sgemm rate), peak RSS of training in a subprocess per framework, import time, and
micro-benchmarks of single operations. Each framework runs in a process of its own (``isolation.py``); this
one only orchestrates. ``benchmarks/README.md`` explains every number.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import frameworks
import micro
from measure import import_seconds, interleave, machine_facts, median, sgemm_rate
from isolation import FrameworkProcess
from training import compare_checked_steps
from workloads import WORKLOADS, build_model, gemm_shapes, make_input, text_pool

HERE = Path(__file__).resolve().parent
POOL_BATCHES = 16  # distinct training batches each workload cycles through
INFERENCE_BATCH = 1000
INFERENCE_IMAGES = 2 * INFERENCE_BATCH
SECTIONS = ("import", "micro")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "EMBER_NUM_THREADS")

SETTINGS = {
    "full": {"repeats": 3, "warmup": 3, "fixed_steps": 200, "min_steps": 5, "target_seconds": 5.0,
             "inference_seconds": 2.0, "inference_repeats": 3, "rss_steps": 20, "import_repeats": 5,
             "micro_seconds": 0.3, "micro_repeats": 5, "sgemm_seconds": 0.5, "sgemm_repeats": 5},
    "quick": {"repeats": 3, "warmup": 1, "fixed_steps": 20, "min_steps": 1, "target_seconds": 0.3,
              "inference_seconds": 0.15, "inference_repeats": 2, "rss_steps": 2, "import_repeats": 3,
              "micro_seconds": 0.02, "micro_repeats": 2, "sgemm_seconds": 0.05, "sgemm_repeats": 3},
}
FIXED_STEP_WORKLOADS = ("softmax", "mlp")  # 200 steps per repeat; the convnets run for target_seconds


def say(text: str = "") -> None:
    print(text, flush=True)


@contextlib.contextmanager
def section(title: str, results: dict):
    """Print the section's title, then its wall time when it ends; the time goes to the JSON too."""
    say(f"\n{title}")
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    results["section_seconds"][title] = elapsed
    say(f"  ({elapsed:.0f} s)")


def format_table(headers: list[str], rows: list[list], text_columns: int = 1) -> str:
    """A plain-text table: the first ``text_columns`` columns left-aligned, the numbers right-aligned."""
    cells = [headers] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[column]) if column < text_columns else cell.rjust(widths[column])
                               for column, cell in enumerate(row)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, or "-" when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if value == 0:
        return "0"
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(value)))), 0)
    return f"{value:,.{decimals}f}"


def ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


# ------------------------------------------------------------------------------------------------ data
def load_images(data_dir: str | None, seed: int) -> dict:
    """MNIST from ``<data_dir>/mnist`` through ``ember.datasets.mnist.load_data`` when it is there, else random
    uint8 images of MNIST's shape; only what the benchmarks read is kept."""
    train_images = POOL_BATCHES * max(workload.batch_size for workload in WORKLOADS.values())
    root = data_dir or os.environ.get("EMBER_DATA")
    if root and (Path(root).expanduser() / "mnist").is_dir():
        from ember.datasets import MNIST, mnist

        try:
            MNIST(root, train=True, download=False)  # raises if a file is missing: never download here
        except (FileNotFoundError, ValueError) as error:
            say(f"MNIST under {root} is unusable ({error}); using random data")
        else:
            (x_train, y_train), (x_test, y_test) = mnist.load_data(root)
            return {"source": f"MNIST from {Path(root).expanduser() / 'mnist'}",
                    "x_train": x_train[:train_images], "y_train": y_train[:train_images].astype(np.int64),
                    "x_test": x_test[:INFERENCE_IMAGES], "y_test": y_test[:INFERENCE_IMAGES].astype(np.int64)}
    generator = np.random.default_rng(seed)
    return {"source": "random uint8 images of MNIST's shape (no MNIST found: set EMBER_DATA or --data-dir)",
            "x_train": generator.integers(0, 256, (train_images, 28, 28), dtype=np.uint8),
            "y_train": generator.integers(0, 10, train_images, dtype=np.int64),
            "x_test": generator.integers(0, 256, (INFERENCE_IMAGES, 28, 28), dtype=np.uint8),
            "y_test": generator.integers(0, 10, INFERENCE_IMAGES, dtype=np.int64)}


def load_text(data_dir: str | None, seed: int) -> dict:
    """Tiny Shakespeare's training split (the first 90%) as character ids from ``<data_dir>/tinyshakespeare``
    through ``ember.datasets.TinyShakespeare`` when it is there, else random ids of its vocabulary."""
    root = data_dir or os.environ.get("EMBER_DATA")
    if root and (Path(root).expanduser() / "tinyshakespeare").is_dir():
        from ember.datasets import TinyShakespeare

        corpus = TinyShakespeare(root)
        return {"source": f"tiny Shakespeare from {corpus.path}", "ids": np.asarray(corpus.train_data)}
    return {"source": "random character ids (no tiny Shakespeare found: set EMBER_DATA or --data-dir)",
            "ids": np.random.default_rng(seed).integers(0, 65, 200000)}


def training_pool(data: dict, workload) -> tuple[np.ndarray, np.ndarray]:
    count = POOL_BATCHES * workload.batch_size
    if workload.inputs == "text":
        if "text" not in data:
            data["text"] = load_text(data.get("data_dir"), data.get("seed", 0))
        return text_pool(data["text"]["ids"], count, data.get("seed", 0))
    return make_input(data["x_train"][:count], workload), data["y_train"][:count]


# ------------------------------------------------------------------------------------------- sections
def run_workload(workload, processes: dict, data: dict, settings: dict, seed: int) -> dict:
    """The correctness guard, then interleaved training repeats and inference repeats of one workload, each
    framework in its own process (``isolation.py``)."""
    images, labels = training_pool(data, workload)
    result = {"batch_size": workload.batch_size, "steps_per_epoch": workload.steps_per_epoch,
              "description": workload.description}
    check = compare_checked_steps(workload, [process.call("checked_step", workload.name, images, labels, seed)
                                             for process in processes.values()])
    result["check"] = check
    say(f"  check {workload.name}: loss Ember {check['losses'][0]:.6f} PyTorch {check['losses'][1]:.6f} "
        f"(rel err {check['loss_rel_err']:.1e}); grad {check['first_layer']} rel err "
        f"{check['first_layer_grad_rel_err']:.1e}, worst grad {check['worst_grad']} {check['max_grad_rel_err']:.1e}; "
        f"loss after one Adam step rel err {check['loss_after_step_rel_err']:.1e} -> "
        f"{'ok' if check['passed'] else 'FAILED'}")
    if not check["passed"]:
        return result

    fixed = settings["fixed_steps"] if workload.name in FIXED_STEP_WORKLOADS else None
    steps = {}
    for name, process in processes.items():
        process.call("start_training", workload.name, images, labels, seed)
        steps[name] = process.call("count_steps", fixed, settings["warmup"], settings["target_seconds"],
                                   settings["min_steps"])
    times = interleave({name: (lambda process=process, count=steps[name]: process.timed("time_steps", count))
                        for name, process in processes.items()}, settings["repeats"])
    summaries = {name: process.call("training_summary") for name, process in processes.items()}
    result["train"] = {
        name: {"steps_per_repeat": steps[name], "seconds_per_step_repeats": times[name],
               "seconds_per_step": median(times[name]),
               "seconds_per_epoch": median(times[name]) * workload.steps_per_epoch, **summaries[name]}
        for name in processes
    }
    result["train"]["ratio"] = ratio(result["train"]["ember"]["seconds_per_step"],
                                     result["train"]["torch"]["seconds_per_step"])
    # the fastest repeat of each: what a step costs when the shared host is not slowing either side
    result["train"]["ratio_best"] = ratio(min(times["ember"]), min(times["torch"]))

    train = result["train"]
    if workload.recurrent:  # training steps only: inference throughput is measured for the image models
        say(f"  {workload.name}: train {1e3 * train['ember']['seconds_per_step']:.2f} vs "
            f"{1e3 * train['torch']['seconds_per_step']:.2f} ms/step (Ember/PyTorch {train['ratio']:.2f}, best "
            f"repeats {train['ratio_best']:.2f}, {steps['ember']}/{steps['torch']} steps x {settings['repeats']})")
        return result
    test_images = make_input(data["x_test"], workload)
    batches = {}
    for name, process in processes.items():
        process.call("start_inference", test_images, INFERENCE_BATCH)
        batches[name] = process.call("count_batches", settings["inference_seconds"])
    rates = interleave({name: (lambda process=process, count=batches[name]: process.timed("time_inference", count))
                        for name, process in processes.items()}, settings["inference_repeats"])
    result["inference"] = {name: {"batches_per_repeat": batches[name], "images_per_second_repeats": rates[name],
                                  "images_per_second": median(rates[name])} for name in processes}
    # as a time ratio, like training: above 1 means Ember takes longer
    result["inference"]["ratio"] = ratio(result["inference"]["torch"]["images_per_second"],
                                         result["inference"]["ember"]["images_per_second"])
    train, inference = result["train"], result["inference"]
    say(f"  {workload.name}: train {1e3 * train['ember']['seconds_per_step']:.2f} vs "
        f"{1e3 * train['torch']['seconds_per_step']:.2f} ms/step (Ember/PyTorch {train['ratio']:.2f}, best repeats "
        f"{train['ratio_best']:.2f}, "
        f"{steps['ember']}/{steps['torch']} steps x {settings['repeats']}); inference "
        f"{inference['ember']['images_per_second']:,.0f} vs {inference['torch']['images_per_second']:,.0f} img/s")
    return result


def count_flops(workload, ember, data: dict) -> dict:
    """Forward GEMMs of every conv/linear layer at the training batch; training counted as 3x forward."""
    images, _ = training_pool(data, workload)
    gemms = gemm_shapes(build_model(workload.name, ember), ember, images[:workload.batch_size])
    forward = sum(gemm["flops"] for gemm in gemms)
    return {"gemms": gemms, "forward_flops_per_step": forward, "train_flops_per_step": 3 * forward,
            "train_flops_per_epoch": 3 * forward * workload.steps_per_epoch,
            "forward_flops_per_image": forward / workload.batch_size}


def measure_sgemm(flops: dict, settings: dict) -> dict:
    """NumPy's float32 GEMM rate for 1024^3 and for the largest GEMM of the workloads; the floor uses the faster."""
    largest = max((gemm for entry in flops.values() for gemm in entry["gemms"]), key=lambda gemm: gemm["flops"])
    rates = {"1024^3": sgemm_rate(1024, 1024, 1024, settings["sgemm_seconds"], settings["sgemm_repeats"]),
             f"largest GEMM ({largest['layer']})": sgemm_rate(largest["m"], largest["k"], largest["n"],
                                                              settings["sgemm_seconds"], settings["sgemm_repeats"])}
    best = max(rate["gflops"] for rate in rates.values())
    for entry in flops.values():
        add_floors(entry, best)
    say("  " + "; ".join(f"{key}: {value['gflops']:.1f} GFLOP/s" for key, value in rates.items()))
    return {"rates": rates, "floor_gflops": best}


def add_floors(flops: dict, rate_gflops: float) -> None:
    """Time at ``rate_gflops``: the least any framework could take if every FLOP ran at the sgemm rate."""
    rate = rate_gflops * 1e9
    flops["floor_seconds_per_step"] = flops["train_flops_per_step"] / rate
    flops["floor_seconds_per_epoch"] = flops["train_flops_per_epoch"] / rate
    flops["ceiling_images_per_second"] = rate / flops["forward_flops_per_image"]


def measure_peak_rss(workload, data: dict, settings: dict, torch_threads: int, seed: int,
                     folder: Path) -> dict:
    """Peak RSS of ``settings["rss_steps"]`` training steps, each framework in a fresh subprocess."""
    images, labels = training_pool(data, workload)
    pool = folder / f"{workload.name}.npz"
    np.savez(pool, images=images, labels=labels)
    result = {}
    for name in frameworks.NAMES:
        command = [sys.executable, str(HERE / "peak_rss.py"), name, workload.name, str(pool),
                   "--steps", str(settings["rss_steps"]), "--torch-threads", str(torch_threads),
                   "--seed", str(seed)]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            result[name] = {"error": completed.stderr.strip().splitlines()[-1:] or ["no output"]}
            say(f"  peak RSS {workload.name} on {frameworks.DISPLAY[name]} failed: {completed.stderr.strip()}")
            continue
        result[name] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["pool_mb"] = (images.nbytes + labels.nbytes) / 2**20
    result["ratio"] = ratio(result["ember"].get("peak_rss_mb"), result["torch"].get("peak_rss_mb"))
    say(f"  peak RSS {workload.name}: Ember {number(result['ember'].get('peak_rss_mb'))} MB, "
        f"PyTorch {number(result['torch'].get('peak_rss_mb'))} MB")
    return result


def run_micro(cases: list, processes: dict, settings: dict, seed: int) -> dict:
    results = {}
    for case in cases:
        grad_output = micro.grad_output_for(case, seed)
        outputs = [process.call("start_micro", case.name, seed, grad_output) for process in processes.values()]
        check = micro.compare_results(case.name, outputs[0], outputs[-1], "Ember", "PyTorch")
        entry = {"description": case.description, "check": check}
        results[case.name] = entry
        if not check["passed"]:
            say(f"  micro {case.name}: Ember and PyTorch disagree {check['errors']} -> FAILED")
            continue
        counts = {name: process.call("count_micro_calls", settings["micro_seconds"])
                  for name, process in processes.items()}
        times = interleave({name: (lambda process=process, count=counts[name]: process.timed("time_micro", count))
                            for name, process in processes.items()}, settings["micro_repeats"])
        for name, values in times.items():
            entry[name] = {"calls_per_repeat": counts[name], "seconds_repeats": values, "seconds": median(values)}
        entry["ratio"] = ratio(entry["ember"]["seconds"], entry["torch"]["seconds"])
        say(f"  {case.name}: {1e3 * entry['ember']['seconds']:.3f} vs {1e3 * entry['torch']['seconds']:.3f} ms "
            f"(Ember/PyTorch {entry['ratio']:.2f}; max rel err {max(check['errors'].values()):.1e})")
    return results


# ------------------------------------------------------------------------------------------- reports
def report_tables(results: dict) -> str:
    """The readable summary: one table per section."""
    parts = []
    workloads = results.get("workloads", {})
    rows = []
    for name, entry in workloads.items():
        train, inference = entry.get("train", {}), entry.get("inference", {})
        flops, rss = entry.get("flops", {}), entry.get("peak_rss", {})
        rows.append([
            name, entry["batch_size"],
            number(train.get("ember", {}).get("seconds_per_epoch")),
            number(train.get("torch", {}).get("seconds_per_epoch")),
            number(train.get("ratio")) if train else "check FAILED",
            number(train.get("ratio_best")) if train else "-",
            number(flops.get("floor_seconds_per_epoch")),
            number(inference.get("ember", {}).get("images_per_second")),
            number(inference.get("torch", {}).get("images_per_second")),
            number(rss.get("ember", {}).get("peak_rss_mb")),
            number(rss.get("torch", {}).get("peak_rss_mb")),
        ])
    if rows:
        parts.append("Summary (s/epoch = median s/step x samples/batch, 60000 images or char_lstm's 10038 "
                     "sequences; ratio = Ember/PyTorch time; best = ratio of the fastest repeats)\n" + format_table(
            ["workload", "batch", "Ember s/epoch", "PyTorch s/epoch", "ratio", "best", "floor s/epoch", "Ember img/s",
             "PyTorch img/s", "Ember RSS MB", "PyTorch RSS MB"], rows))

        rows = [[name, number(1e3 * entry["train"]["ember"]["seconds_per_step"]),
                 number(1e3 * entry["train"]["torch"]["seconds_per_step"]), number(entry["train"]["ratio"]),
                 number(1e3 * entry["flops"]["floor_seconds_per_step"]),
                 f"{entry['train']['ember']['steps_per_repeat']}/{entry['train']['torch']['steps_per_repeat']}"]
                for name, entry in workloads.items() if "train" in entry]
        parts.append("Training (median of repeats)\n" + format_table(
            ["workload", "Ember ms/step", "PyTorch ms/step", "ratio", "floor ms/step", "steps/repeat E/T"], rows))

        rows = [[name, number(entry["inference"]["ember"]["images_per_second"]),
                 number(entry["inference"]["torch"]["images_per_second"]), number(entry["inference"]["ratio"]),
                 number(entry["flops"]["ceiling_images_per_second"])]
                for name, entry in workloads.items() if "inference" in entry]
        if rows:  # the recurrent workloads time training only
            parts.append(f"Inference (eval, no grad, batch {INFERENCE_BATCH}; ratio = Ember/PyTorch time)\n" +
                         format_table(["workload", "Ember img/s", "PyTorch img/s", "ratio", "ceiling img/s"], rows))

        sgemm = results["sgemm"]
        rows = [[name, number(entry["flops"]["forward_flops_per_step"] / 1e9),
                 number(entry["flops"]["train_flops_per_step"] / 1e9),
                 number(entry["flops"]["train_flops_per_epoch"] / 1e12),
                 number(1e3 * entry["flops"]["floor_seconds_per_step"]),
                 number(entry["flops"]["floor_seconds_per_epoch"])]
                for name, entry in workloads.items()]
        rates = ", ".join(f"{key} ({value['m']}x{value['k']} @ {value['k']}x{value['n']}): "
                          f"{value['gflops']:.1f} GFLOP/s" for key, value in sgemm["rates"].items())
        parts.append(f"FLOP floor (2 x MACs of conv/linear layers; training = 3 x forward; floor at "
                     f"{sgemm['floor_gflops']:.1f} GFLOP/s)\n  NumPy sgemm: {rates}\n" + format_table(
                         ["workload", "fwd GFLOP/step", "train GFLOP/step", "train TFLOP/epoch", "floor ms/step",
                          "floor s/epoch"], rows))

        rows = [[name, number(entry["peak_rss"]["ember"].get("peak_rss_mb")),
                 number(entry["peak_rss"]["torch"].get("peak_rss_mb")), number(entry["peak_rss"]["ratio"]),
                 number(entry["peak_rss"]["pool_mb"])]
                for name, entry in workloads.items() if "peak_rss" in entry]
        if rows:
            parts.append("Peak RSS of training in a fresh process (MB)\n" + format_table(
                ["workload", "Ember", "PyTorch", "ratio", "data pool"], rows))

    if "import" in results:
        rows = [[f"{name}  ({entry['statement']})", f"{1e3 * entry['seconds']:.0f}",
                 f"{1e3 * entry['raw_seconds']:.0f}"] for name, entry in results["import"].items()]
        parts.append("Import time (median of fresh processes; ms)\n" + format_table(
            ["statement", "import ms", "process ms"], rows))

    if results.get("micro"):
        rows = [[name, entry["description"], number(1e3 * entry["ember"]["seconds"]) if "ember" in entry else "-",
                 number(1e3 * entry["torch"]["seconds"]) if "torch" in entry else "-",
                 number(entry.get("ratio")) if "ratio" in entry else "check FAILED"]
                for name, entry in results["micro"].items()]
        parts.append("Micro-benchmarks (median ms per call)\n" + format_table(
            ["case", "what", "Ember ms", "PyTorch ms", "ratio"], rows, text_columns=2))
    return "\n\n".join(parts)


def report_machine(facts: dict, data_source: str) -> str:
    load = facts.get("load_average")
    lines = [
        f"date        {facts['date']}",
        f"cpu         {facts['cpu']}, {facts['cores']} cores ({facts['cores_available']} available)",
        f"load        {', '.join(f'{value:.2f}' for value in load) if load else 'unknown'} (1, 5, 15 min)",
        f"python      {facts['python']}",
        f"numpy       {facts['numpy']}, BLAS {facts['numpy_blas']}",
        f"ember       {facts.get('ember_kernels', '-')}",
        f"torch       {facts.get('torch', '-')}, {facts.get('torch_threads', '-')} threads; "
        f"{'; '.join(facts.get('torch_build', []))}",
        f"data        {data_source}",
    ]
    if facts["blas_threads_env"]:
        lines.append(f"threads env {facts['blas_threads_env']}")
    if load and load[0] > 0.5 * facts["cores_available"]:
        lines.append(f"WARNING     the machine is busy (load {load[0]:.2f} on {facts['cores_available']} cores): "
                     f"timings are noisy")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main
def select(only: list[str] | None, case_names: list[str]) -> tuple[list[str], bool, list[str]]:
    """``(workloads, import section?, micro cases)`` chosen by ``--only`` (everything when it is empty)."""
    if not only:
        return list(WORKLOADS), True, case_names
    known = set(WORKLOADS) | set(SECTIONS) | set(case_names)
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f"--only: unknown name(s) {unknown}; expected workloads {list(WORKLOADS)}, sections "
                         f"{list(SECTIONS)} or micro cases {case_names}")
    cases = case_names if "micro" in only else [name for name in case_names if name in only]
    return [name for name in WORKLOADS if name in only], "import" in only, cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps and repeats: a smoke run, noisy numbers")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"workloads ({', '.join(WORKLOADS)}), 'import', 'micro' or single micro cases")
    parser.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    parser.add_argument("--data-dir", default=None, help="data root holding mnist/ (default: $EMBER_DATA)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both: NumPy's BLAS and Ember's own (through OMP/OPENBLAS/MKL/EMBER_NUM_THREADS, "
                             "set before NumPy loads, so the run restarts itself) and torch.set_num_threads (default: "
                             "every available core for each)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="training repeats per framework and workload (default 3; more steady the median on a "
                             "noisy host)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats: expected a positive count, received {args.repeats}")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive count, received {args.threads}")
        if any(os.environ.get(variable) != str(args.threads) for variable in THREAD_VARIABLES):
            os.environ.update({variable: str(args.threads) for variable in THREAD_VARIABLES})
            arguments = sys.argv[1:] if argv is None else list(argv)
            os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *arguments])
    torch_threads = args.threads or frameworks.available_cores()

    cases = micro.build_cases(args.seed)
    try:
        workload_names, run_import, case_names = select(args.only, [case.name for case in cases])
    except ValueError as error:
        parser.error(str(error))
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.repeats is not None:
        settings["repeats"] = args.repeats
    ember = frameworks.load("ember")  # for FLOP counting only: timings run in the frameworks' own processes
    processes = {name: FrameworkProcess(name, torch_threads) for name in frameworks.NAMES}
    try:
        return run_sections(args, settings, ember, processes, torch_threads, workload_names, run_import, case_names,
                            cases)
    finally:
        for process in processes.values():
            process.close()


def run_sections(args, settings: dict, ember, processes: dict, torch_threads: int, workload_names: list,
                 run_import: bool, case_names: list, cases: list) -> int:
    data = load_images(args.data_dir, args.seed)
    data.update(data_dir=args.data_dir, seed=args.seed)
    if any(WORKLOADS[name].inputs == "text" for name in workload_names):
        data["text"] = load_text(args.data_dir, args.seed)
        data["source"] += "; " + data["text"]["source"]
    facts = {**machine_facts(), **processes["torch"].call("facts")}
    results = {"machine": facts, "data": data["source"], "mode": "quick" if args.quick else "full",
               "settings": settings, "section_seconds": {}, "workloads": {}}
    say(report_machine(facts, data["source"]))
    failed = []

    if workload_names:
        with section("FLOPs and this machine's sgemm rate", results):
            flops = {name: count_flops(WORKLOADS[name], ember, data) for name in workload_names}
            results["sgemm"] = measure_sgemm(flops, settings)

        with section("Training and inference (Ember and PyTorch repeats interleaved, each in its own process)",
                     results):
            for name in workload_names:
                entry = run_workload(WORKLOADS[name], processes, data, settings, args.seed)
                entry["flops"] = flops[name]
                results["workloads"][name] = entry
                if not entry["check"]["passed"]:
                    failed.append(f"workload {name}")

        with section("Peak RSS (one subprocess per framework and workload)", results), \
                tempfile.TemporaryDirectory(prefix="ember-bench-") as folder:
            for name in workload_names:
                results["workloads"][name]["peak_rss"] = measure_peak_rss(
                    WORKLOADS[name], data, settings, torch_threads, args.seed, Path(folder))

    if run_import:
        with section("Import time", results):
            results["import"] = import_seconds({"ember": "import ember",
                                                "ember.nn+optim": "import ember.nn, ember.optim",
                                                "torch": "import torch"}, settings["import_repeats"])

    if case_names:
        with section("Micro-benchmarks", results):
            selected = [case for case in cases if case.name in case_names]
            results["micro"] = run_micro(selected, processes, settings, args.seed)
        failed += [f"micro {name}" for name, entry in results["micro"].items() if not entry["check"]["passed"]]

    say("\n" + report_tables(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
        say(f"\nwrote {args.json}")
    if failed:
        say(f"\nFAILED correctness checks: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
