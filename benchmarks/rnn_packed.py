"""Packed against padded sequences: one forward+backward of LSTM(64 -> 128) on 32 sequences of lengths 10..100
(1843 of 3200 padded steps), Ember packed, Ember padded, PyTorch packed, PyTorch padded, interleaved in one
process; the minimum over rounds of the process CPU time, one thread (CPU time rather than wall time, so that a
loaded host disturbs the figures less).

    EMBER_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .bench-venv/bin/python benchmarks/rnn_packed.py \
        [proj_size] [rounds]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

import ember
from ember import nn
from ember.nn.utils.rnn import pack_padded_sequence

proj = int(sys.argv[1]) if len(sys.argv) > 1 else 0
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
torch.set_num_threads(1)
rng = np.random.default_rng(0)
lengths = np.sort(rng.integers(10, 101, size=32))[::-1].copy()
lengths[0] = 100
x_np = rng.standard_normal((100, 32, 64)).astype(np.float32)
kw = {"proj_size": proj} if proj else {}
ember.manual_seed(0)
ember_module = nn.LSTM(64, 128, **kw)
torch_module = torch.nn.LSTM(64, 128, **kw)


def ember_step(packed):
    ember_module.zero_grad()
    x = ember.tensor(x_np, requires_grad=True)
    if packed:
        out, (h, _) = ember_module(pack_padded_sequence(x, lengths))
        out = out.data
    else:
        out, (h, _) = ember_module(x)
    (out.sum() + h.sum()).backward()


def torch_step(packed):
    torch_module.zero_grad()
    x = torch.tensor(x_np, requires_grad=True)
    if packed:
        out, (h, _) = torch_module(torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths)))
        out = out.data
    else:
        out, (h, _) = torch_module(x)
    (out.sum() + h.sum()).backward()


runs = {"ember packed": lambda: ember_step(True), "ember padded": lambda: ember_step(False),
        "torch packed": lambda: torch_step(True), "torch padded": lambda: torch_step(False)}
best = {name: float("inf") for name in runs}
for run in runs.values():
    run()  # warm-up
for _ in range(rounds):
    for name, run in runs.items():
        start = time.process_time()
        run()
        best[name] = min(best[name], time.process_time() - start)
print(f"proj_size={proj}, lengths sum {lengths.sum()} of {100 * 32} steps, min of {rounds} rounds, "
      "process CPU time, one thread:")
for name, seconds in best.items():
    print(f"  {name}: {seconds * 1e3:.1f} ms")
