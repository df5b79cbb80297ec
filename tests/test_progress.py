"""Progress bars: the silent fallback away from a terminal, tqdm when forced or on a terminal, tqdm missing."""
from __future__ import annotations

import io
import re
import sys
import warnings

import pytest

from ember import progress as progress_module
from ember.progress import SimpleProgress, progress, tqdm, trange


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def without_tqdm(monkeypatch):
    """Make ``import tqdm`` fail and forget an earlier warning."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(progress_module, "_warned_missing_tqdm", False)


def test_fallback_prints_one_summary_line(capsys):
    bar = progress(range(5), desc="epoch 1")
    assert isinstance(bar, SimpleProgress)
    seen = []
    for step in bar:
        seen.append(step)
        bar.set_postfix(loss=0.123456, acc=1, note="ok ")
    assert seen == [0, 1, 2, 3, 4]
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"epoch 1: 5/5 it in 00:00 \([0-9.]+ it/s\), loss=0\.123, acc=1, note=ok", lines[0])


def test_fallback_without_description_is_silent(capsys):
    assert list(progress(iter("abc"))) == ["a", "b", "c"]
    with progress(total=10, desc="quiet", leave=False) as bar:
        bar.update(3)
    with progress(range(3), desc="off", disable=True, force=True) as bar:
        assert isinstance(bar, SimpleProgress)
        list(bar)
    assert capsys.readouterr().err == ""


def test_fallback_has_tqdm_methods(capsys):
    with progress(total=100, desc="download", unit="B") as bar:
        bar.update(40)
        bar.update(60)
        bar.set_description("fetch")
        bar.set_postfix({"speed": 12345.678})
        bar.refresh()
        bar.clear()
        assert bar.n == 100 and len(bar) == 100
        assert bar.format_dict["total"] == 100
    bar.close()  # a second close prints nothing more
    line = capsys.readouterr().err
    assert line.count("\n") == 1
    assert line.startswith("fetch: 100/100 B in ") and line.endswith(", speed=1.23e+4\n")


def test_forced_bar_is_tqdm(capsys):
    import tqdm as tqdm_package

    bar = progress(range(3), desc="train", force=True)
    assert isinstance(bar, tqdm_package.tqdm)
    assert list(bar) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "train: 100%" in err and "3/3" in err


def test_terminal_gets_a_tqdm_bar():
    import tqdm as tqdm_package

    terminal = FakeTerminal()
    with progress(total=4, desc="steps", file=terminal) as bar:
        assert isinstance(bar, tqdm_package.tqdm)
        bar.update(4)
    assert "4/4" in terminal.getvalue()


def test_missing_tqdm_warns_once_when_forced(without_tqdm, capsys):
    with pytest.warns(RuntimeWarning, match=r"tqdm is not installed; install it with `pip install ember\[progress\]`"):
        bar = progress(range(2), desc="a", force=True)
    assert isinstance(bar, SimpleProgress)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        progress(range(2), force=True)  # warned already: silent
        progress(range(2), file=FakeTerminal())  # not forced: no warning either
    list(bar)
    assert capsys.readouterr().err.startswith("a: 2/2 it in ")


def test_tqdm_drop_in_signature(capsys):
    bar = tqdm(range(4), "positional desc", 4)
    assert isinstance(bar, SimpleProgress) and bar.desc == "positional desc" and bar.total == 4
    assert sum(bar) == 6
    assert capsys.readouterr().err.startswith("positional desc: 4/4 it in ")
    assert isinstance(tqdm(range(2), disable=True), SimpleProgress)
    assert list(trange(3, desc="r")) == [0, 1, 2]
    assert capsys.readouterr().err.startswith("r: 3/3 it")
    tqdm.write("message")
    assert capsys.readouterr().out == "message\n"
    bar = tqdm(total=10, initial=4, postfix={"lr": 0.001})
    assert bar.n == 4 and bar.postfix == "lr=0.001"


def test_rate_counts_the_steps_after_initial(capsys, monkeypatch):
    clock = iter([0.0, 2.0])
    monkeypatch.setattr("ember.progress.time.perf_counter", lambda: next(clock))
    bar = SimpleProgress(total=10, initial=6, desc="resumed", unit="step")  # a run resumed at step 6
    bar.update(4)
    bar.close()
    assert capsys.readouterr().err.startswith("resumed: 10/10 step in 00:02 (2.00 step/s)")


def test_tqdm_write_without_tqdm(without_tqdm, capsys):
    tqdm.write("plain")
    assert capsys.readouterr().out == "plain\n"


def test_len_needs_a_total():
    with pytest.raises(TypeError, match="len\\(\\) needs a total or an iterable with a length"):
        len(progress(iter([1, 2])))
    with pytest.raises(TypeError, match="iteration needs an iterable"):
        iter(progress(total=3)).__next__()
