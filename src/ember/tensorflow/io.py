"""``tf.io``: ``decode_raw`` (bytes to numbers) and ``read_file``."""
from __future__ import annotations

import numpy as np

from ._tensor import InvalidArgumentError, Tensor, as_dtype, convert_to_tensor

__all__ = ["decode_raw", "read_file"]


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """The bytes of a string tensor read as numbers of ``out_type``: a string gives a 1-d tensor, a 1-d
    tensor of N strings of one length an (N, length / itemsize) tensor. ``little_endian`` orders multi-byte
    types; each string's length must be a multiple of the type's size."""
    strings = np.asarray(convert_to_tensor(input_bytes).array)
    if strings.dtype != object and strings.dtype.kind != "S":
        raise InvalidArgumentError(f"DecodeRaw: input_bytes must be a string tensor, received dtype {strings.dtype}")
    target = as_dtype(out_type).dtype
    wire = target.newbyteorder("<" if little_endian else ">") if target.itemsize > 1 else target
    flat = [bytes(item) for item in strings.reshape(-1)]
    if fixed_length is not None:
        flat = [item[:int(fixed_length)].ljust(int(fixed_length), b"\0") for item in flat]
    lengths = {len(item) for item in flat}
    if len(lengths) > 1:
        raise InvalidArgumentError(f"DecodeRaw requires input strings to all be the same size, received lengths "
                                   f"{sorted(lengths)}")
    length = lengths.pop() if lengths else 0
    if length % target.itemsize:
        raise InvalidArgumentError(f"Input to DecodeRaw has length {length} that is not a multiple of "
                                   f"{target.itemsize}, the size of {as_dtype(out_type).name}")
    values = np.frombuffer(b"".join(flat), dtype=wire).astype(target)
    return Tensor(values.reshape(*strings.shape, length // target.itemsize))


def read_file(filename, name=None):
    """The whole file as a string scalar."""
    path = convert_to_tensor(filename).array[()]
    with open(path.decode() if isinstance(path, bytes) else path, "rb") as file:
        return Tensor(np.array(file.read(), dtype=object))
