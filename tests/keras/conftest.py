"""Keras tests start from fresh layer names and a fixed seed."""
import pytest

from ember import keras


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield
