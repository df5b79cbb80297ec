"""A character-level GPT on tiny Shakespeare (nanoGPT's model, training and sampling), as PyTorch code on Ember.

The program lives in ``ember.tutorials.char_gpt`` (written with ``import ember as torch``, so that
``ember gpt`` ships with the package); this file runs it:

    python examples/char_gpt.py train --out runs/gpt        # nanoGPT's CPU configuration, val loss <= 1.88
    python examples/char_gpt.py sample --out runs/gpt --prompt "ROMEO:"

The same commands are ``ember gpt train`` and ``ember gpt sample``. Tiny Shakespeare is read from
``$EMBER_DATA/tinyshakespeare/input.txt`` (or ``--data-dir``).
"""
import sys

from ember.tutorials.char_gpt import main

if __name__ == "__main__":
    sys.exit(main())
