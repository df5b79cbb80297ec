"""``DistributedDataParallel``: one model replica per rank, gradients averaged across ranks during backward.

At wrap time rank 0's parameters and buffers are copied to every rank (after checking that every rank built
the same model). The trainable parameters are grouped into buckets of about ``bucket_cap_mb`` MiB, in
reverse order of ``module.parameters()`` (roughly the order backward finishes them). Each parameter's
post-accumulate-grad hook counts down its bucket; a complete bucket is copied into one flat buffer and its sum
across ranks is started with a non-blocking MPI call at once, while backward goes on with earlier layers.
Buckets start strictly in index order, so every rank issues the same collectives in the same order. When the
last bucket has started, the wrapper waits for all of them and writes the averaged gradients back into
``.grad``, so ``optimizer.step()`` sees the same gradients on every rank.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ...autograd.tensor import Tensor
from ...distributed.backends import ReduceOp
from ...distributed.process_group import _current_backend
from ..modules.module import Module


FIRST_BUCKET_BYTES = 2**20  # PyTorch's cap on the first bucket (the last layers)


class _Bucket:
    """Parameters reduced together: their gradients flattened into one buffer."""

    def __init__(self, index: int, params: list, names: list) -> None:
        self.index = index
        self.params = params
        self.names = names
        self.offsets = []
        total = 0
        for param in params:
            self.offsets.append(total)
            total += param.array.size
        xp = np if isinstance(params[0].array, np.ndarray) else __import__("cupy")
        self.buffer = xp.zeros(total, dtype=params[0].array.dtype)
        self.pending = len(params)
        self.work = None

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)


class DistributedDataParallel(Module):
    """Data-parallel training: wrap the model on every rank, train each rank on its own slice of the batch.

    Args:
        module: the model; every rank must build the same one (same parameter names, shapes, dtypes).
        device_ids, output_device: accepted for PyTorch's signature; a rank uses the device its module is on
            (one GPU per rank with ``backend="nccl"``).
        dim: accepted for PyTorch's signature (batches are split by the data loader, not by the wrapper).
        broadcast_buffers: copy rank 0's buffers (e.g. BatchNorm's running statistics) to every rank at the
            start of each training-mode forward (default True, as PyTorch).
        process_group: only the default group (None) exists.
        bucket_cap_mb: bucket size in MiB (default 25).
        find_unused_parameters: allow parameters that get no gradient in an iteration (found by walking the
            forward's graph); without it such a parameter is an error at the next forward (default False).

    Example::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(Net())
        loss_fn(model(inputs), targets).backward()   # gradients averaged across ranks by now
        optimizer.step()
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float = 25.0,
                 find_unused_parameters: bool = False, **unused_options) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, received {type(module).__name__}")
        if unused_options:
            raise TypeError(f"DistributedDataParallel: unsupported options {sorted(unused_options)}")
        if process_group is not None:
            raise ValueError("DistributedDataParallel: only the default process group (None) is supported")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError(f"DistributedDataParallel: one device per rank, received device_ids={device_ids}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, received {bucket_cap_mb}")
        self.module = module
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = bucket_cap_mb
        self.find_unused_parameters = find_unused_parameters
        self._backend = _current_backend()
        self._require_sync = True
        self._check_same_model_on_every_rank()
        self._broadcast_from_rank0([tensor for _, tensor in self._named_state()])
        named = [(name, param) for name, param in module.named_parameters() if param.requires_grad]
        if not named:
            raise ValueError(f"DistributedDataParallel: {type(module).__name__} has no parameter that requires a "
                             "gradient (build a lazily built model first, e.g. by calling it once)")
        self._buckets = self._build_buckets(named, bucket_cap_mb * 2**20)
        self._bucket_of = {id(param): bucket for bucket in self._buckets for param in bucket.params}
        self._hook_handles = [param.register_post_accumulate_grad_hook(self._on_gradient_ready)
                              for _, param in named]
        self._reset_iteration()

    # ------------------------------------------------------------------------------------------ wrap time
    def _named_state(self) -> list:
        return [*self.module.named_parameters(), *((name, buffer) for name, buffer in self.module.named_buffers()
                                                    if buffer is not None)]

    def _check_same_model_on_every_rank(self) -> None:
        comm = getattr(self._backend, "mpi_comm", None) or self._backend.comm
        described = [(name, tuple(tensor.shape), np.dtype(tensor.dtype).name) for name, tensor in self._named_state()]
        every_rank = comm.allgather(described)
        reference = every_rank[0]
        for rank, other in enumerate(every_rank[1:], start=1):
            if other == reference:
                continue
            for mine, theirs in zip(reference, other):
                if mine != theirs:
                    raise ValueError(
                        f"DistributedDataParallel: every rank must build the same model; parameter or buffer "
                        f"{mine[0]!r} has shape {mine[1]} {mine[2]} on rank 0 but {theirs[0]!r} has shape "
                        f"{theirs[1]} {theirs[2]} on rank {rank}"
                    )
            raise ValueError(f"DistributedDataParallel: every rank must build the same model; rank 0 has "
                             f"{len(reference)} parameters and buffers, rank {rank} has {len(other)}")

    def _broadcast_from_rank0(self, tensors: list) -> None:
        if self._backend.size == 1:
            return
        works = []
        for tensor in tensors:
            if not tensor.array.flags.c_contiguous:
                tensor.array = tensor.array.copy(order="C")
            works.append(self._backend.broadcast(tensor.array, 0))
        for work in works:
            work.wait()

    @staticmethod
    def _build_buckets(named: list, cap_bytes: float) -> list:
        """Reverse parameter order; a bucket closes when it would exceed its cap or the dtype/device changes (a
        parameter larger than the cap gets a bucket of its own). The first bucket's cap is 1 MiB (or
        ``cap_bytes`` if smaller), as in PyTorch, so that the last layers' reduction starts early."""
        buckets: list[_Bucket] = []
        params: list = []
        names: list = []
        size = 0
        for name, param in reversed(named):
            same_kind = not params or (param.array.dtype == params[0].array.dtype and type(param.array) is
                                       type(params[0].array))
            cap = min(cap_bytes, FIRST_BUCKET_BYTES) if not buckets else cap_bytes
            if params and (not same_kind or size + param.array.nbytes > cap):
                buckets.append(_Bucket(len(buckets), params, names))
                params, names, size = [], [], 0
            params.append(param)
            names.append(name)
            size += param.array.nbytes
        if params:
            buckets.append(_Bucket(len(buckets), params, names))
        return buckets

    @property
    def bucket_sizes(self) -> list:
        """Bytes in each bucket, in launch order."""
        return [bucket.nbytes for bucket in self._buckets]

    # ------------------------------------------------------------------------------------------ each step
    def _reset_iteration(self) -> None:
        for bucket in self._buckets:
            bucket.pending = len(bucket.params)
            bucket.work = None
        self._ready = [False] * len(self._buckets)
        self._next_to_launch = 0
        self._ready_params: set = set()
        self._locally_used: set | None = None

    def forward(self, *args, **kwargs):
        self._check_previous_reduction_finished()
        if self.broadcast_buffers and self.module.training:
            self._broadcast_from_rank0([buffer for _, buffer in self.module.named_buffers() if buffer is not None])
        output = self.module(*args, **kwargs)
        if self.find_unused_parameters and self._require_sync and self.module.training and is_grad_enabled():
            self._mark_unused_parameters(output)
        return output

    def _check_previous_reduction_finished(self) -> None:
        if not self._ready_params:
            return
        missing = [name for bucket in self._buckets for name, param in zip(bucket.names, bucket.params)
                   if id(param) not in self._ready_params]
        self._reset_iteration()
        raise RuntimeError(
            "DistributedDataParallel: the previous iteration did not finish reducing gradients: parameters "
            f"{missing} received no gradient. Pass find_unused_parameters=True if some parameters take no part "
            "in some iterations, and make sure every output that depends on parameters is in the loss"
        )

    def _mark_unused_parameters(self, output) -> None:
        """Walk the forward's graph from its outputs; parameters it does not reach count as ready (zero)."""
        reached: set = set()
        stack = [node for tensor in _tensors_in(output) if (node := tensor.creator) is not None]
        seen_nodes: set = set()
        while stack:
            node = stack.pop()
            if id(node) in seen_nodes:
                continue
            seen_nodes.add(id(node))
            for tensor in node.inputs:
                if tensor.creator is None:
                    reached.add(id(tensor))
                elif tensor.requires_grad:
                    stack.append(tensor.creator)
        for tensor in _tensors_in(output):
            if tensor.creator is None:
                reached.add(id(tensor))
        self._locally_used = reached
        for bucket in self._buckets:
            for param in bucket.params:
                if id(param) not in reached:
                    self._param_ready(param)

    def _on_gradient_ready(self, param: Tensor) -> None:
        if self._require_sync:
            self._param_ready(param)

    def _param_ready(self, param: Tensor) -> None:
        if id(param) in self._ready_params:
            return
        self._ready_params.add(id(param))
        bucket = self._bucket_of[id(param)]
        bucket.pending -= 1
        if bucket.pending == 0:
            self._ready[bucket.index] = True
            self._launch_ready_buckets()

    def _launch_ready_buckets(self) -> None:
        while self._next_to_launch < len(self._buckets) and self._ready[self._next_to_launch]:
            bucket = self._buckets[self._next_to_launch]
            for param, offset in zip(bucket.params, bucket.offsets):
                target = bucket.buffer[offset:offset + param.array.size]
                if param.grad is None:
                    target[...] = 0
                else:
                    target[...] = param.grad.array.reshape(-1)
            bucket.work = self._backend.all_reduce(bucket.buffer, ReduceOp.SUM)
            self._next_to_launch += 1
            for earlier in self._buckets[:self._next_to_launch]:
                earlier.work.is_completed()  # lets MPI progress the reductions already in flight
        if self._next_to_launch == len(self._buckets):
            self._finish_reduction()

    def _finish_reduction(self) -> None:
        used_somewhere = None
        if self._locally_used is not None:
            used = np.concatenate([np.array([id(param) in self._locally_used for param in bucket.params],
                                            dtype=np.int32) for bucket in self._buckets])
            self._backend.all_reduce(used, ReduceOp.SUM).wait()
            used_somewhere = iter(used.tolist())
        scale = 1.0 / self._backend.size
        for bucket in self._buckets:
            bucket.work.wait()
            bucket.buffer *= scale
            for param, offset in zip(bucket.params, bucket.offsets):
                if used_somewhere is not None and not next(used_somewhere):
                    continue  # no rank used it: its .grad stays as it was, as PyTorch leaves it
                averaged = bucket.buffer[offset:offset + param.array.size].reshape(param.shape)
                if param.grad is None:
                    param.grad = Tensor(averaged.copy())
                else:
                    param.grad.array[...] = averaged
        self._reset_iteration()

    @contextmanager
    def no_sync(self):
        """Inside, backward accumulates local gradients without reducing them (gradient accumulation); the
        first backward after the block reduces the accumulated gradients."""
        previous = self._require_sync
        self._require_sync = False
        try:
            yield
        finally:
            self._require_sync = previous

    def extra_repr(self) -> str:
        return (f"world_size={self._backend.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}, find_unused_parameters={self.find_unused_parameters}")


def _tensors_in(value) -> list:
    """The Tensors in a (nested) output: a Tensor, a sequence or a mapping of them."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [tensor for item in value for tensor in _tensors_in(item)]
    if isinstance(value, dict):
        return [tensor for item in value.values() for tensor in _tensors_in(item)]
    return []
