"""A character-level GPT on tiny Shakespeare, nanoGPT's design, written as PyTorch code running on Ember.

The model is nanoGPT's ``model.py`` (pre-LayerNorm blocks, causal self-attention through
``F.scaled_dot_product_attention(is_causal=True)``, a 4x GELU MLP, learned positions, the token embedding tied
to the output head, N(0, 0.02) init with the residual projections at 0.02 / sqrt(2 * n_layer)); training is its
``train.py`` (AdamW with weight decay on the 2-d parameters only, betas (0.9, 0.99), linear warm-up then cosine
decay, gradient clipping at 1.0, checkpoints saved and resumed); sampling is its ``sample.py`` with a key/value
cache, so that each new character costs one position's work. Run it as::

    ember gpt train --out runs/gpt              # nanoGPT's CPU configuration: 2000 iterations, val loss ~1.88
    ember gpt sample --out runs/gpt --prompt "ROMEO:" --temperature 0.8 --top-k 200

or as ``python examples/char_gpt.py train ...``. Tiny Shakespeare comes from ``EMBER_DATA`` or ``--data-dir``.
Sampling draws with NumPy from the logits' arrays.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

# --- the lines that differ from the PyTorch original ------------------------------------------------------
import ember as torch                                              # import torch
import ember.nn as nn                                              # import torch.nn as nn
from ember.nn import functional as F                               # from torch.nn import functional as F
from ember.datasets import TinyShakespeare                        # nanoGPT's prepare.py and get_batch
# ---------------------------------------------------------------------------------------------------------

CHECKPOINT = "ckpt.safetensors"


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False  # biases in the Linear and LayerNorm layers (nanoGPT's train.py default)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"CausalSelfAttention: n_embd {config.n_embd} is not a multiple of n_head "
                             f"{config.n_head}")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v of every head
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x, cache=None):
        """x ``(B, T, C)`` -> ``(B, T, C)``. ``cache``: None (training: causal over the T positions), or a dict
        holding the keys and values of the positions before these (``"k"``, ``"v"``: ``(B, nh, P, hs)``),
        extended in place by these T positions."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        dropout_p = self.dropout if self.training else 0.0
        if cache is None or "k" not in cache:
            if cache is not None:
                cache["k"], cache["v"] = k, v
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            past = cache["k"].size(2)
            k = cache["k"] = torch.cat([cache["k"], k], dim=2)
            v = cache["v"] = torch.cat([cache["v"], v], dim=2)
            # new position i sees the past and new positions 0..i (bottom-right aligned, not is_causal's top-left)
            mask = None if T == 1 else torch.tensor(np.tril(np.ones((T, past + T), dtype=bool), k=past))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # residual projections, GPT-2's scaled init
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        """Parameters (the tied embedding counted once); without the position table by default."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, caches=None):
        """idx ``(B, T)`` int64 -> logits ``(B, T, vocab)`` and the loss (None without ``targets``).
        ``caches``: one dict per block for key/value caching (see ``generate``); positions continue from the
        cached ones."""
        t = idx.size(1)
        start = 0 if not caches or "k" not in caches[0] else caches[0]["k"].size(2)
        if start + t > self.config.block_size:
            raise ValueError(f"GPT: cannot run {start + t} positions ({start} cached + {t} new); the position "
                             f"table holds block_size {self.config.block_size}")
        pos = torch.arange(start, start + t, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i])
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        """AdamW with ``weight_decay`` on every 2-d parameter (matrices and embeddings), none on the others
        (biases, LayerNorm weights)."""
        param_dict = {name: p for name, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None, use_cache=True):
        """``idx`` ``(1, T)`` followed by ``max_new_tokens`` sampled ids. With ``use_cache`` each block keeps
        the keys and values of the positions so far, and each new id runs one position; without it (or once
        the context reaches ``block_size``) the last ``block_size`` ids run again, as nanoGPT's ``generate``.
        Sampling is on NumPy: ``logits / temperature``, the ``top_k`` largest kept, one draw."""
        if idx.size(1) > self.config.block_size:
            raise ValueError(f"GPT.generate: the prompt has {idx.size(1)} ids; the position table holds "
                             f"block_size {self.config.block_size}")
        if temperature <= 0:
            raise ValueError(f"GPT.generate: temperature must be > 0, received {temperature}")
        generator = generator if generator is not None else np.random.default_rng()
        caches = None
        logits = None
        for _ in range(max_new_tokens):
            if use_cache and caches is not None and idx.size(1) <= self.config.block_size:
                logits, _ = self(idx[:, -1:], caches=caches)
            else:
                caches = [{} for _ in self.transformer.h] if use_cache else None
                logits, _ = self(idx[:, -self.config.block_size:], caches=caches)
            next_id = sample_next(logits[:, -1, :].numpy(), temperature, top_k, generator)
            idx = torch.cat([idx, torch.tensor(next_id).view(1, 1)], dim=1)
            if use_cache and idx.size(1) > self.config.block_size:
                caches = None  # the window slides: the cached positions no longer match the table
        return idx


def sample_next(logits, temperature, top_k, generator):
    """One id drawn from ``softmax(logits / temperature)`` (logits ``(1, vocab)``) over the ``top_k`` largest."""
    scores = logits[0].astype(np.float64) / temperature
    if top_k is not None and top_k < scores.size:
        scores[scores < np.sort(scores)[-top_k]] = -np.inf
    probabilities = np.exp(scores - scores.max())
    return int(generator.choice(scores.size, p=probabilities / probabilities.sum()))


# ------------------------------------------------------------------------------------- training
def get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """nanoGPT's schedule: linear warm-up for ``warmup_iters``, cosine decay to ``min_lr`` at ``lr_decay_iters``."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def estimate_loss(model, corpus, batch_size, block_size, eval_iters, generator):
    """The mean loss over ``eval_iters`` random batches of each split."""
    out = {}
    model.eval()
    with torch.no_grad():
        for split in ("train", "val"):
            losses = np.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = corpus.get_batch(split, batch_size, block_size, generator)
                _, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = float(losses.mean())
    model.train()
    return out


def save_checkpoint(path, model, optimizer, iter_num, best_val_loss, config, rng):
    """Model, optimizer, iteration, data generator state and configuration in one safetensors file, written
    atomically (a temporary file renamed over the old one)."""
    torch.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "iter_num": iter_num,
        "best_val_loss": best_val_loss,
        "model_args": asdict(config),
        "rng_state": json.dumps(rng.bit_generator.state),
    }, path)


class Trainer:
    """nanoGPT's ``train.py`` loop as an object, so that benchmarks can run it an iteration at a time."""

    def __init__(self, args, corpus=None):
        self.args = args
        torch.manual_seed(args.seed)
        self.corpus = corpus if corpus is not None else TinyShakespeare(args.data_dir)
        self.rng = np.random.default_rng(args.seed)
        self.config = GPTConfig(block_size=args.block_size, vocab_size=self.corpus.vocab_size,
                                n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout,
                                bias=args.bias)
        self.iter_num = 0
        self.best_val_loss = float("inf")
        checkpoint = None
        path = os.path.join(args.out, CHECKPOINT) if args.out else None
        if args.resume:
            if path is None or not os.path.exists(path):
                raise FileNotFoundError(f"gpt train --resume: no checkpoint at {path!r}")
            checkpoint = torch.load(path)
            self.config = GPTConfig(**checkpoint["model_args"])
        self.model = GPT(self.config)
        self.optimizer = self.model.configure_optimizers(args.weight_decay, args.learning_rate,
                                                         (args.beta1, args.beta2))
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.iter_num = checkpoint["iter_num"]
            self.best_val_loss = checkpoint["best_val_loss"]
            self.rng.bit_generator.state = json.loads(checkpoint["rng_state"])
        self.path = path

    def step(self):
        """One iteration: the learning rate of ``iter_num``, a batch, forward, backward, clip, AdamW."""
        args = self.args
        lr = get_lr(self.iter_num, args.learning_rate, args.min_lr, args.warmup_iters, args.lr_decay_iters)
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr
        X, Y = self.corpus.get_batch("train", args.batch_size, args.block_size, self.rng)
        _, loss = self.model(X, Y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.grad_clip)
        self.optimizer.step()
        self.iter_num += 1
        return loss

    def evaluate(self, eval_iters):
        return estimate_loss(self.model, self.corpus, self.args.batch_size, self.args.block_size, eval_iters,
                             self.rng)

    def save(self):
        if self.path is not None:
            save_checkpoint(self.path, self.model, self.optimizer, self.iter_num, self.best_val_loss, self.config,
                            self.rng)


def train(args, corpus=None):
    """Train (or resume) to ``args.max_iters``; returns the history of evaluations, per-iteration seconds and
    the final losses (estimated on ``args.final_eval_iters`` batches of each split)."""
    trainer = Trainer(args, corpus)
    print(f"number of parameters: {trainer.model.get_num_params() / 1e6:.2f}M; "
          f"{len(trainer.corpus.train_data):,} training characters, vocabulary {trainer.corpus.vocab_size}")
    history, seconds = [], []
    while True:
        if trainer.iter_num % args.eval_interval == 0 and trainer.iter_num < args.max_iters:
            losses = trainer.evaluate(args.eval_iters)
            history.append({"iter": trainer.iter_num, **losses})
            print(f"step {trainer.iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}",
                  flush=True)
            if trainer.iter_num > 0:
                trainer.best_val_loss = min(trainer.best_val_loss, losses["val"])
                trainer.save()
        if trainer.iter_num >= args.max_iters:
            break
        start = time.perf_counter()
        loss = trainer.step()
        seconds.append(time.perf_counter() - start)
        if trainer.iter_num % args.log_interval == 0:
            print(f"iter {trainer.iter_num}: loss {loss.item():.4f}, time {seconds[-1] * 1000:.2f}ms", flush=True)
    final = trainer.evaluate(args.final_eval_iters)
    history.append({"iter": trainer.iter_num, **final})
    trainer.best_val_loss = min(trainer.best_val_loss, final["val"])
    trainer.save()
    median = float(np.median(seconds)) if seconds else float("nan")
    print(f"final ({args.final_eval_iters} batches a split): train loss {final['train']:.4f}, "
          f"val loss {final['val']:.4f}; median iteration {median * 1000:.1f} ms", flush=True)
    return {"history": history, "final": final, "iteration_seconds": seconds, "trainer": trainer}


def sample(args, corpus=None):
    """Load ``<out>/ckpt.safetensors`` and print ``args.num_samples`` samples after ``args.prompt``."""
    path = os.path.join(args.out, CHECKPOINT)
    checkpoint = torch.load(path)
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    corpus = corpus if corpus is not None else TinyShakespeare(args.data_dir)
    if corpus.vocab_size != model.config.vocab_size:
        raise ValueError(f"gpt sample: the checkpoint's vocabulary has {model.config.vocab_size} characters, "
                         f"the text's {corpus.vocab_size}")
    generator = np.random.default_rng(args.seed)
    x = torch.tensor(corpus.encode(args.prompt or "\n")).view(1, -1)
    samples = []
    for _ in range(args.num_samples):
        y = model.generate(x, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                           generator=generator, use_cache=not args.no_cache)
        samples.append(corpus.decode(y[0]))
        print(samples[-1])
        print("---------------")
    return samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``train`` and ``sample`` subcommands with nanoGPT's CPU configuration as defaults."""
    commands = parser.add_subparsers(dest="gpt_command", required=True)
    train_parser = commands.add_parser("train", help="train (or --resume) the character GPT")
    for flag, kind, default in (
        ("--max-iters", int, 2000), ("--eval-interval", int, 250), ("--eval-iters", int, 20),
        ("--final-eval-iters", int, 200), ("--log-interval", int, 50), ("--batch-size", int, 12),
        ("--block-size", int, 64), ("--n-layer", int, 4), ("--n-head", int, 4), ("--n-embd", int, 128),
        ("--dropout", float, 0.0), ("--learning-rate", float, 1e-3), ("--min-lr", float, 1e-4),
        ("--warmup-iters", int, 100), ("--lr-decay-iters", int, 2000), ("--weight-decay", float, 0.1),
        ("--beta1", float, 0.9), ("--beta2", float, 0.99), ("--grad-clip", float, 1.0), ("--seed", int, 1337),
    ):
        train_parser.add_argument(flag, type=kind, default=default)
    train_parser.add_argument("--bias", action="store_true", help="biases in Linear and LayerNorm layers")
    train_parser.add_argument("--resume", action="store_true", help="continue from <out>/ckpt.safetensors")
    train_parser.add_argument("--out", default="out-shakespeare-char", help="folder for the checkpoint")
    train_parser.add_argument("--data-dir", default=None, help="data root holding tinyshakespeare/")
    train_parser.set_defaults(run=lambda arguments: (train(arguments), 0)[1])
    sample_parser = commands.add_parser("sample", help="generate text from a trained checkpoint")
    sample_parser.add_argument("--out", default="out-shakespeare-char", help="folder holding the checkpoint")
    sample_parser.add_argument("--prompt", default="\n")
    sample_parser.add_argument("--num-samples", type=int, default=1)
    sample_parser.add_argument("--max-new-tokens", type=int, default=500)
    sample_parser.add_argument("--temperature", type=float, default=0.8)
    sample_parser.add_argument("--top-k", type=int, default=200)
    sample_parser.add_argument("--seed", type=int, default=1337)
    sample_parser.add_argument("--no-cache", action="store_true", help="rerun the whole context for each id")
    sample_parser.add_argument("--data-dir", default=None, help="data root holding tinyshakespeare/")
    sample_parser.set_defaults(run=lambda arguments: (sample(arguments), 0)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="char_gpt", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    arguments = parser.parse_args(argv)
    return arguments.run(arguments)
