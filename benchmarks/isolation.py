"""Each framework in a process of its own, driven by the benchmark's main process.

Two frameworks in one process can disturb each other's timings: PyTorch's OpenMP threads may still be
spinning on the cores while NumPy works, and the allocator's state is shared. Measured with
``step_profile.py step convnet --alternate torch`` (PyTorch's steps interleaved in Ember's process): one of
four runs took 107 ms per Ember step against 47-50 ms for the others and for Ember alone. So
``run.py`` never imports PyTorch: every call that touches a framework is sent to that framework's process,
which imports only that framework and keeps its models, optimizers and tensors between calls. Repeats still
alternate (E, T, E, T, ...), one process at a time, with a short pause between them so that the threads
of the process that just ran can go to sleep before the other starts.

    process = FrameworkProcess("torch", threads=2)
    process.call("start_training", "mlp", images, labels, 0)
    seconds = process.call("time_steps", 200)

Calls and results travel as pickles over the child's stdin/stdout; the child's own prints go to stderr.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTLE_SECONDS = 0.3  # pause before each timed repeat: spinning BLAS/OpenMP threads of the other process sleep


class FrameworkProcess:
    """A child process that has imported one framework (``"ember"`` or ``"torch"``) and runs ``OPERATIONS``."""

    def __init__(self, name: str, threads: int):
        self.name = name
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), name, str(threads)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(HERE))

    def call(self, operation: str, *args):
        """Run ``OPERATIONS[operation](framework, state, *args)`` in the child and return its result."""
        try:
            pickle.dump((operation, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
            status, value = pickle.load(self.process.stdout)
        except (BrokenPipeError, EOFError):
            raise RuntimeError(f"the {self.name} process ended (exit status {self.process.poll()}) during "
                               f"{operation!r}; its error is above") from None
        if status == "error":
            raise RuntimeError(f"{operation!r} failed in the {self.name} process:\n{value}")
        return value

    def timed(self, operation: str, *args) -> float:
        """``call`` after ``SETTLE_SECONDS`` of quiet: for a timed repeat."""
        time.sleep(SETTLE_SECONDS)
        return self.call(operation, *args)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


# ------------------------------------------------------------------------------------- in the child
def _start_training(framework, state, workload_name, images, labels, seed):
    from training import Trainer
    from workloads import WORKLOADS

    state["trainer"] = Trainer(WORKLOADS[workload_name], framework, images, labels, seed)


def _count_steps(framework, state, fixed_steps, warmup, target_seconds, min_steps):
    """Warm up, then the steps of one repeat: ``fixed_steps``, or as many as fill ``target_seconds``."""
    from measure import calls_for

    trainer = state["trainer"]
    if fixed_steps:
        for _ in range(warmup):
            trainer.step()
        return fixed_steps
    return calls_for(trainer.step, target_seconds, min_steps, warmup)


def _after_collecting(measure, *args):
    """``measure(*args)`` after a garbage collection, so that none lands on the clock."""
    import gc

    gc.collect()
    return measure(*args)


def _time_steps(framework, state, steps):
    return _after_collecting(state["trainer"].seconds_per_step, steps)


def _training_summary(framework, state):
    trainer = state["trainer"]
    return {"steps_taken": trainer.steps_taken, "final_loss": trainer.loss_value()}


def _start_inference(framework, state, test_images, batch_size):
    from training import Predictor

    trainer = state["trainer"]
    state["predictor"] = Predictor(trainer.model, framework, test_images, batch_size)


def _count_batches(framework, state, seconds):
    from measure import calls_for

    return calls_for(state["predictor"].predict, seconds)


def _time_inference(framework, state, batches):
    return _after_collecting(state["predictor"].images_per_second, batches)


def _checked_step(framework, state, workload_name, images, labels, seed):
    from training import checked_step
    from workloads import WORKLOADS

    return checked_step(WORKLOADS[workload_name], framework, images, labels, seed)


def _start_micro(framework, state, case_name, seed, grad_output):
    import micro

    case = next(case for case in micro.build_cases(seed) if case.name == case_name)
    state["runner"] = micro.Runner(case, framework, grad_output)
    return state["runner"].results()


def _count_micro_calls(framework, state, seconds):
    from measure import calls_for

    return calls_for(state["runner"].call, seconds)


def _time_micro(framework, state, calls):
    from measure import seconds_per_call

    return _after_collecting(seconds_per_call, state["runner"].call, calls)


def _facts(framework, state):
    """PyTorch's version, threads and build (the main process never imports it); nothing for Ember."""
    if framework.name != "torch":
        return {}
    from measure import machine_facts

    facts = machine_facts(framework.module)
    return {key: facts[key] for key in ("torch", "torch_threads", "torch_build")}


OPERATIONS = {
    "start_training": _start_training, "count_steps": _count_steps, "time_steps": _time_steps,
    "training_summary": _training_summary, "start_inference": _start_inference,
    "count_batches": _count_batches, "time_inference": _time_inference, "checked_step": _checked_step,
    "start_micro": _start_micro, "count_micro_calls": _count_micro_calls, "time_micro": _time_micro,
    "facts": _facts,
}


def serve(name: str, threads: int) -> None:
    """Answer calls from stdin until it closes; results (or the error's traceback) go to the original stdout."""
    sys.path.insert(0, str(HERE))
    import frameworks

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # anything printed must not corrupt the replies
    requests = sys.stdin.buffer
    framework = frameworks.load(name, threads)
    state: dict = {}
    while True:
        try:
            operation, args = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = ("ok", OPERATIONS[operation](framework, state, *args))
        except Exception:  # noqa: BLE001 - the parent re-raises it with the traceback
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
