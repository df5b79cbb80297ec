"""A bad .keras archive fails in load_model, cheaply, with a ValueError that names the file."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ember import keras
from ember.io.safetensors import dumps


def _saved(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(np.ones((8, 4), np.float32), np.zeros((8, 3), np.float32), verbose=0)
    path = tmp_path / "good.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members: dict, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def _edited(tmp_path, name, edit):
    members = _saved(tmp_path)
    record = json.loads(members[name])
    edit(record)
    members[name] = json.dumps(record)
    return _write(tmp_path / "edited.keras", members)


def _refused(path, match=None):
    with pytest.raises(ValueError, match=match) as caught:
        keras.models.load_model(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path, monkeypatch):
    members = _saved(tmp_path)
    members["padding.bin"] = b"\0" * (200 * 1024 * 1024)  # deflates to ~200 kB
    path = _write(tmp_path / "bomb.keras", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1024 * 1024
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: opened.append(name) or
                        real_open(self, name, *a, **k))
    _refused(path, "uncompressed|expands")
    assert opened == []  # refused before any member was read


def test_a_directory_that_lies_about_sizes_is_refused(tmp_path):
    members = _saved(tmp_path)
    path = _write(tmp_path / "liar.keras", members)
    payload = bytearray(path.read_bytes())
    # the central directory's uncompressed size of the first member, made huge
    directory = payload.rindex(b"PK\x01\x02", 0, len(payload))
    first = payload.index(b"PK\x01\x02")
    for offset in {first, directory}:
        payload[offset + 24:offset + 28] = (0x7FFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(payload))
    _refused(path)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["config"]["layers"][1].update(class_name="NoSuchLayer"), "NoSuchLayer"),
    (lambda c: c["config"]["layers"][1]["config"].update(no_such_argument=1), "no_such_argument"),
    (lambda c: c.pop("config"), "config"),
    (lambda c: c["config"].update(layers=3), None),
    (lambda c: c["config"]["layers"].append("a string"), None),
])
def test_bad_architecture_fails_at_load(tmp_path, edit, match):
    _refused(_edited(tmp_path, "config.json", edit), match)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["loss"].update(class_name="NoSuchLoss"), "NoSuchLoss"),
    (lambda c: c["loss"]["config"].update(no_such_option=1), "no_such_option"),
    (lambda c: c.update(metrics=["no_such_metric"]), "no_such_metric"),
    (lambda c: c["optimizer"].update(class_name="NoSuchOptimizer"), "NoSuchOptimizer"),
    (lambda c: c["optimizer"]["config"].update(no_such_argument=1), "no_such_argument"),
    (lambda c: c["optimizer"].update(class_name="_Wrapped"), "_Wrapped"),
    (lambda c: c.pop("loss"), "loss"),
    (lambda c: c.update(metrics="mae"), None),
])
def test_bad_compile_settings_fail_at_load_not_at_fit(tmp_path, edit, match):
    _refused(_edited(tmp_path, "compile.json", edit), match)


@pytest.mark.parametrize("name", ["config.json", "compile.json"])
def test_deeply_nested_json_is_a_value_error(tmp_path, name):
    members = _saved(tmp_path)
    members[name] = "[" * 100_000 + "]" * 100_000
    _refused(_write(tmp_path / "deep.keras", members), "nested")


@pytest.mark.parametrize("payload", ["[]", "3", "null", '{"format": "ember.keras/1"}'])
def test_config_of_the_wrong_shape_is_a_value_error(tmp_path, payload):
    members = _saved(tmp_path)
    members["config.json"] = payload
    _refused(_write(tmp_path / "shape.keras", members))


def test_optimizer_state_that_does_not_fit_is_a_value_error(tmp_path):
    from ember.io.safetensors import loads

    members = _saved(tmp_path)
    arrays, _ = loads(members["model.weights.safetensors"])
    arrays["optimizer/0/exp_avg"] = np.zeros((2, 2), np.float32)
    arrays["optimizer/99/exp_avg"] = np.zeros(3, np.float32)
    members["model.weights.safetensors"] = dumps(arrays)
    _refused(_write(tmp_path / "state.keras", members), "optimizer|exp_avg")


# ------------------------------------------------------------------------------------------- fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402 - the fuzzing section's own imports
from hypothesis import strategies as st  # noqa: E402

from .test_hostile_files import json_values, mutate, mutations, only_value_errors_naming  # noqa: E402

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good_members(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def good_archive(tmp_path_factory, good_members):
    return _write(tmp_path_factory.mktemp("archive") / "good.keras", good_members, zipfile.ZIP_DEFLATED).read_bytes()


@FUZZ
@given(edits=mutations)
def test_fuzz_keras_archive_byte_mutations(tmp_path, good_archive, edits):
    """Any damage to the archive's bytes: load_model succeeds or raises ValueError naming the file."""
    path = tmp_path / "mutated.keras"
    path.write_bytes(mutate(good_archive, edits))
    only_value_errors_naming(keras.models.load_model, path)


@FUZZ
@given(name=st.sampled_from(["config.json", "compile.json", "metadata.json", "model.weights.safetensors"]),
       replacement=json_values, edits=mutations, as_json=st.booleans())
def test_fuzz_keras_archive_members(tmp_path, good_members, name, replacement, edits, as_json):
    """One member replaced by random JSON or by its own bytes damaged, in an intact zip."""
    members = dict(good_members)
    if name in members:
        members[name] = json.dumps(replacement) if as_json else mutate(members[name], edits)
    path = _write(tmp_path / "member.keras", members)
    only_value_errors_naming(keras.models.load_model, path)
