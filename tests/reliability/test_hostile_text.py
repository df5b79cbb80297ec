"""TinyShakespeare on hostile files: only a ValueError naming the file, never another exception."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from ember.datasets import TinyShakespeare

from .test_hostile_files import mutate, mutations

# two-, three- and four-byte characters, so that byte mutations often break a character
VALID_TEXT = ("ROMEO:\nBut, soft! what light through yonder window breaks?\n" * 4
              + "\u00dcn\u00efc\u00f6d\u00e9 \u2713 \u2014 \U0001d518\n").encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations)
def test_fuzz_text_files(tmp_path, edits):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir(exist_ok=True)
    path = folder / "input.txt"
    path.write_bytes(mutate(VALID_TEXT, edits))
    try:
        corpus = TinyShakespeare(tmp_path)
    except ValueError as error:
        assert str(path) in str(error), str(error)
    else:
        assert corpus.decode(corpus.data).encode("utf-8") == path.read_bytes()
        if len(corpus.train_data) > 1:
            assert corpus.get_batch("train", 2, 1, generator=0)[0].shape == (2, 1)


def test_an_empty_file_is_refused_naming_it(tmp_path):
    folder = tmp_path / "tinyshakespeare"
    folder.mkdir()
    (folder / "input.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"input.txt': expected at least 2 characters, found 0"):
        TinyShakespeare(tmp_path)
