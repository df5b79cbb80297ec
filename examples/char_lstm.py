"""A character-level LSTM language model on tiny Shakespeare, written as PyTorch code running on Ember.

Embedding(65, 256) -> 2-layer LSTM(256) -> Linear(256, 65), trained with Adam on random windows of 100 characters
(batches of 64, nanoGPT's 90% / 10% split); the train and validation losses are printed every
``--eval-interval`` steps, then text is generated from ``--prompt`` by sampling with ``--temperature`` and
``--top-k``.

    python examples/char_lstm.py --steps 2000 --prompt "ROMEO:"   # tiny Shakespeare from EMBER_DATA or --data-dir

Sampling uses NumPy on the last step's logits, as Ember has no ``topk`` or ``multinomial`` yet.
"""
import argparse
import time

import numpy as np

# --- the lines that differ from the PyTorch original ------------------------------------------------------
import ember as torch                                              # import torch
import ember.nn as nn                                              # import torch.nn as nn
from ember.datasets import TinyShakespeare                        # the nanoGPT prepare.py / get_batch helpers
# ---------------------------------------------------------------------------------------------------------


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim=256, hidden_size=256, num_layers=2, dropout=0.2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        """ids ``(B, T)`` -> logits ``(B, T, vocab)`` and the LSTM's final ``(h, c)``."""
        output, state = self.lstm(self.embedding(ids), state)
        return self.head(output), state


def estimate_loss(model, corpus, criterion, batch_size, block_size, eval_iters, generator):
    """The mean loss over ``eval_iters`` random batches of each split."""
    model.eval()
    losses = {}
    with torch.no_grad():
        for split in ("train", "val"):
            total = 0.0
            for _ in range(eval_iters):
                x, y = corpus.get_batch(split, batch_size, block_size, generator)
                logits, _ = model(x)
                total += criterion(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item()
            losses[split] = total / eval_iters
    model.train()
    return losses


def generate(model, corpus, prompt, length, temperature=1.0, top_k=None, generator=None):
    """``length`` characters sampled after ``prompt``, feeding each one back with the LSTM's state."""
    model.eval()
    generator = generator or np.random.default_rng()
    ids = torch.tensor(corpus.encode(prompt or "\n")).view(1, -1)
    produced = []
    with torch.no_grad():
        logits, state = model(ids)
        for _ in range(length):
            scores = logits[0, -1].numpy().astype(np.float64) / temperature
            if top_k is not None and top_k < scores.size:
                scores[scores < np.sort(scores)[-top_k]] = -np.inf
            probabilities = np.exp(scores - scores.max())
            next_id = int(generator.choice(scores.size, p=probabilities / probabilities.sum()))
            produced.append(next_id)
            logits, state = model(torch.tensor([[next_id]]), state)
    model.train()
    return corpus.decode(produced)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-interval", type=int, default=200)
    parser.add_argument("--eval-iters", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=100, help="characters per training sequence")
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="clip the gradients' norm to this")
    parser.add_argument("--prompt", default="ROMEO:")
    parser.add_argument("--length", type=int, default=500, help="characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder holding tinyshakespeare/ (default: $EMBER_DATA)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    generator = np.random.default_rng(args.seed)
    corpus = TinyShakespeare(args.data_dir)
    print(f"{len(corpus.data):,} characters, vocabulary {corpus.vocab_size}; "
          f"train {len(corpus.train_data):,} / val {len(corpus.val_data):,}")
    model = CharLSTM(corpus.vocab_size, args.embedding_dim, args.hidden_size, args.num_layers, args.dropout)
    print(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    history = []
    start = time.perf_counter()
    for step in range(args.steps + 1):
        if step % args.eval_interval == 0 or step == args.steps:
            losses = estimate_loss(model, corpus, criterion, args.batch_size, args.block_size, args.eval_iters,
                                   generator)
            seconds = time.perf_counter() - start
            history.append({"step": step, **losses, "seconds": seconds})
            print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f} | {seconds:.1f} s",
                  flush=True)
        if step == args.steps:
            break
        x, y = corpus.get_batch("train", args.batch_size, args.block_size, generator)
        logits, _ = model(x)
        loss = criterion(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()

    sample = generate(model, corpus, args.prompt, args.length, args.temperature, args.top_k, generator)
    print(args.prompt + sample)
    return {"history": history, "sample": sample}


if __name__ == "__main__":
    main()
