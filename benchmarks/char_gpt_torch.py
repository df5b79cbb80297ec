"""The character GPT of ``ember gpt train`` in real PyTorch, and both timed in one run.

The model is the same code as ``ember.tutorials.char_gpt`` with ``torch`` for ``ember`` (nanoGPT's model.py);
the batches come from a NumPy generator with the same seed and the same calls, so both frameworks see the
same data. Run in the benchmark venv (PyTorch installed), with Ember from this tree on the path::

    PYTHONPATH=src EMBER_DATA=../shared/data .bench-venv/bin/python benchmarks/char_gpt_torch.py \\
        --max-iters 2000 --chunk 100 --json runs/char_gpt_bench.json

Both trainings run in alternating chunks of ``--chunk`` iterations (Ember, PyTorch, Ember, ...), so that a
machine shared with other work slows both alike; each reports the median of its per-iteration times, its
validation loss on ``--final-eval-iters`` batches at the end, and the run measures the float32 GEMM rate of
NumPy and of PyTorch at the model's shapes and its FLOP count per iteration, giving the time floor.
``--framework torch`` trains PyTorch alone (``--max-iters``) and prints its losses.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config["n_embd"], 3 * config["n_embd"], bias=config["bias"])
        self.c_proj = nn.Linear(config["n_embd"], config["n_embd"], bias=config["bias"])
        self.resid_dropout = nn.Dropout(config["dropout"])
        self.n_head, self.n_embd, self.dropout = config["n_head"], config["n_embd"], config["dropout"]

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config["n_embd"], 4 * config["n_embd"], bias=config["bias"])
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config["n_embd"], config["n_embd"], bias=config["bias"])
        self.dropout = nn.Dropout(config["dropout"])

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config["n_embd"], bias=config["bias"])
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config["n_embd"], bias=config["bias"])
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config["vocab_size"], config["n_embd"]),
            wpe=nn.Embedding(config["block_size"], config["n_embd"]),
            drop=nn.Dropout(config["dropout"]),
            h=nn.ModuleList([Block(config) for _ in range(config["n_layer"])]),
            ln_f=nn.LayerNorm(config["n_embd"], bias=config["bias"]),
        ))
        self.lm_head = nn.Linear(config["n_embd"], config["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config["n_layer"]))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


def get_lr(it, args):
    if it < args.warmup_iters:
        return args.learning_rate * (it + 1) / (args.warmup_iters + 1)
    if it > args.lr_decay_iters:
        return args.min_lr
    ratio = (it - args.warmup_iters) / (args.lr_decay_iters - args.warmup_iters)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.learning_rate - args.min_lr)


class TinyShakespeareArrays:
    """tiny Shakespeare as ids, split and batched as ``ember.datasets.TinyShakespeare`` does."""

    def __init__(self, data_dir):
        text = (Path(data_dir) / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
        self.chars = sorted(set(text))
        lookup = {c: i for i, c in enumerate(self.chars)}
        data = np.array([lookup[c] for c in text], dtype=np.uint16)
        split = int(0.9 * len(data))
        self.splits = {"train": data[:split], "val": data[split:]}

    def get_batch(self, split, batch_size, block_size, rng):
        data = self.splits[split]
        starts = rng.integers(0, len(data) - block_size, size=int(batch_size))
        offsets = starts[:, None] + np.arange(block_size, dtype=np.int64)
        return (torch.from_numpy(data[offsets].astype(np.int64)), torch.from_numpy(data[offsets + 1].astype(np.int64)))


class TorchTrainer:
    """The twin of ``ember.tutorials.char_gpt.Trainer``: same schedule, batches, clipping and optimizer."""

    def __init__(self, args, corpus):
        torch.manual_seed(args.seed)
        self.args, self.corpus = args, corpus
        self.rng = np.random.default_rng(args.seed)
        self.model = GPT(dict(block_size=args.block_size, vocab_size=len(corpus.chars), n_layer=args.n_layer,
                              n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=args.bias))
        self.optimizer = self.model.configure_optimizers(args.weight_decay, args.learning_rate,
                                                         (args.beta1, args.beta2))
        self.iter_num = 0

    def step(self):
        lr = get_lr(self.iter_num, self.args)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        X, Y = self.corpus.get_batch("train", self.args.batch_size, self.args.block_size, self.rng)
        _, loss = self.model(X, Y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
        self.optimizer.step()
        self.iter_num += 1
        return loss

    def batch_losses(self, split, count):
        """The loss of each of ``count`` random batches of ``split``, as an array."""
        self.model.eval()
        with torch.no_grad():
            losses = [self.model(*self.corpus.get_batch(split, self.args.batch_size, self.args.block_size,
                                                         self.rng))[1].item() for _ in range(count)]
        self.model.train()
        return np.array(losses)

    def evaluate(self, eval_iters):
        self.model.eval()
        out = {}
        with torch.no_grad():
            for split in ("train", "val"):
                out[split] = float(np.mean([self.model(*self.corpus.get_batch(
                    split, self.args.batch_size, self.args.block_size, self.rng))[1].item()
                    for _ in range(eval_iters)]))
        self.model.train()
        return out


def report_estimate_spread(losses, group, target=1.88):
    """How much a validation loss estimated on ``group`` batches (nanoGPT's ``eval_iters``) moves: the mean of
    ``losses`` (one per batch), their spread, and the estimates of disjoint groups of ``group`` of them."""
    estimates = losses[:len(losses) // group * group].reshape(-1, group).mean(axis=1)
    print(f"validation loss over {len(losses)} batches: mean {losses.mean():.4f}, per-batch sd {losses.std():.4f}; "
          f"{len(estimates)} estimates on {group} batches each: sd {estimates.std():.4f}, min {estimates.min():.4f}, "
          f"max {estimates.max():.4f}, {np.mean(estimates <= target):.1%} at or below {target}")


def flops_per_iteration(args, vocab_size):
    """Multiply-adds x 2 of the GEMMs of one training iteration: forward, and twice that for backward."""
    tokens = args.batch_size * args.block_size
    linear_weights = args.n_layer * 12 * args.n_embd ** 2 + args.n_embd * vocab_size
    attention = args.n_layer * 2 * 2 * args.batch_size * args.block_size ** 2 * args.n_embd  # q k^T and p v
    return 3 * (2 * linear_weights * tokens + attention)


def gemm_rates(args, vocab_size, repeats=30):
    """float32 GFLOP/s of NumPy and PyTorch over the model's own linear-layer products (forward shapes)."""
    tokens = args.batch_size * args.block_size
    shapes = [(tokens, args.n_embd, 3 * args.n_embd), (tokens, args.n_embd, args.n_embd),
              (tokens, args.n_embd, 4 * args.n_embd), (tokens, 4 * args.n_embd, args.n_embd),
              (tokens, args.n_embd, vocab_size)]
    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32))
                for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    rates = {}
    for name, matmul, convert in (("numpy", np.matmul, lambda a: a), ("torch", torch.matmul, torch.from_numpy)):
        pairs = [(convert(a), convert(b)) for a, b in operands]
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for a, b in pairs:
                matmul(a, b)
            times.append(time.perf_counter() - start)
        rates[name] = flops / float(np.median(times)) / 1e9
    return rates


def compare(args):
    from ember.datasets import TinyShakespeare
    from ember.tutorials import char_gpt

    ember_corpus = TinyShakespeare(args.data_dir)
    ember_trainer = char_gpt.Trainer(args, ember_corpus)
    torch_trainer = TorchTrainer(args, TinyShakespeareArrays(ember_corpus.path.parent.parent))
    times = {"ember": [], "torch": []}
    losses = {"ember": [], "torch": []}
    start = time.perf_counter()
    while ember_trainer.iter_num < args.max_iters:
        for name, trainer in (("ember", ember_trainer), ("torch", torch_trainer)):
            for _ in range(min(args.chunk, args.max_iters - trainer.iter_num)):
                tick = time.perf_counter()
                loss = trainer.step()
                times[name].append(time.perf_counter() - tick)
                losses[name].append(loss.item())
        print(f"iter {ember_trainer.iter_num}: loss ember {losses['ember'][-1]:.4f} torch {losses['torch'][-1]:.4f}; "
              f"median ms ember {np.median(times['ember']) * 1e3:.1f} torch {np.median(times['torch']) * 1e3:.1f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    evaluation = {"ember": ember_trainer.evaluate(args.final_eval_iters),
                  "torch": torch_trainer.evaluate(args.final_eval_iters)}
    flops = flops_per_iteration(args, ember_corpus.vocab_size)
    rates = gemm_rates(args, ember_corpus.vocab_size)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (load average at the end "
                   f"{os.getloadavg()[0]:.1f}), torch {torch.__version__} ({torch.get_num_threads()} threads), "
                   f"numpy {np.__version__}",
        "iterations": args.max_iters, "chunk": args.chunk,
        "median_iteration_ms": {name: value * 1e3 for name, value in medians.items()},
        "ember_over_torch": medians["ember"] / medians["torch"],
        "final_loss": evaluation, "final_eval_batches": args.final_eval_iters,
        "gflop_per_iteration": flops / 1e9, "gemm_gflops": rates,
        "floor_ms": {name: flops / (rate * 1e9) * 1e3 for name, rate in rates.items()},
        "ember_seconds_per_iteration_all": times["ember"], "torch_seconds_per_iteration_all": times["torch"],
    }
    summary = {key: value for key, value in result.items() if not key.endswith("_all")}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result))
    return result


def profile(args):
    """Ember's iteration alone: per op class (forward and backward apart, wall time on the calling thread,
    optimizer and clipping as their own rows) over ``--max-iters`` iterations after 5 untimed, then cProfile's
    top functions by own time over as many more."""
    import cProfile
    import pstats

    from ember.nn import utils as nn_utils
    from ember.tutorials import char_gpt
    from measure import time_ops

    trainer = char_gpt.Trainer(args)
    for _ in range(5):
        trainer.step()
    steps, spent = time_ops(trainer.step, args.max_iters, ((trainer.optimizer, "step", ("optimizer", "step")),
                                                             (nn_utils, "clip_grad_norm_", ("clip_grad_norm_", ""))))
    total = 1e3 * sum(steps) / len(steps)
    print(f"Ember: {total:.1f} ms per iteration on average, median {1e3 * np.median(steps):.1f} "
          f"(load average {os.getloadavg()[0]:.1f}); ms per iteration by op:")
    for (name, phase), seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {name:28s} {phase:9s} {1e3 * seconds / len(steps):7.2f}")
    print(f"  {'everything else':38s} {total - 1e3 * sum(spent.values()) / len(steps):7.2f}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.max_iters):
        trainer.step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, kind, default in (
        ("--max-iters", int, 2000), ("--chunk", int, 100), ("--final-eval-iters", int, 200),
        ("--batch-size", int, 12), ("--block-size", int, 64), ("--n-layer", int, 4), ("--n-head", int, 4),
        ("--n-embd", int, 128), ("--dropout", float, 0.0), ("--learning-rate", float, 1e-3),
        ("--min-lr", float, 1e-4), ("--warmup-iters", int, 100), ("--lr-decay-iters", int, 2000),
        ("--weight-decay", float, 0.1), ("--beta1", float, 0.9), ("--beta2", float, 0.99),
        ("--grad-clip", float, 1.0), ("--seed", int, 1337),
    ):
        parser.add_argument(flag, type=kind, default=default)
    parser.add_argument("--bias", action="store_true")
    parser.add_argument("--estimate-spread", type=int, default=0, metavar="BATCHES",
                        help="with --framework torch: also the validation loss of BATCHES single batches, and the "
                             "spread of estimates on --eval-iters-published of them")
    parser.add_argument("--eval-iters-published", type=int, default=20,
                        help="batches behind nanoGPT's published estimate (its README's --eval_iters=20)")
    parser.add_argument("--framework", choices=("both", "torch", "profile"), default="both",
                        help="profile: Ember alone, op by op and under cProfile")
    parser.add_argument("--data-dir", default=os.environ.get("EMBER_DATA"))
    parser.add_argument("--json", default=None, help="write the figures (and every iteration's time) here")
    args = parser.parse_args(argv)
    args.out, args.resume = None, False  # the Ember trainer's checkpoint options: no checkpoint here
    if args.framework == "torch":
        trainer = TorchTrainer(args, TinyShakespeareArrays(args.data_dir))
        times = []
        while trainer.iter_num < args.max_iters:
            tick = time.perf_counter()
            trainer.step()
            times.append(time.perf_counter() - tick)
        print(f"torch: median iteration {np.median(times) * 1e3:.1f} ms, final "
              f"{trainer.evaluate(args.final_eval_iters)}")
        if args.estimate_spread:
            report_estimate_spread(trainer.batch_losses("val", args.estimate_spread), args.eval_iters_published)
        return None
    if args.framework == "profile":
        return profile(args)
    return compare(args)


if __name__ == "__main__":
    main()
