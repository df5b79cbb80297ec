"""DistributedDataParallel: N ranks on slices of the global batch end with the same weights as one process on
the whole batch; no_sync, unused parameters, buckets, wrap-time checks."""
import numpy as np
import pytest

import ember
import ember.distributed as dist
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel

GLOBAL_BATCH = 8


def make_model(seed=0):
    ember.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 16),
                         nn.Tanh(), nn.Linear(16, 3))


def global_batches(steps, seed=1):
    generator = np.random.default_rng(seed)
    return [(generator.standard_normal((GLOBAL_BATCH, 2, 5, 5)).astype(np.float32),
             generator.integers(0, 3, GLOBAL_BATCH)) for _ in range(steps)]


def local_slice(array, rank, size):
    per_rank = len(array) // size
    return array[rank * per_rank:(rank + 1) * per_rank]


def train(model, optimizer, batches, rank=0, size=1):
    for images, labels in batches:
        optimizer.zero_grad()
        logits = model(ember.tensor(local_slice(images, rank, size)))
        F.cross_entropy(logits, ember.tensor(local_slice(labels, rank, size))).backward()
        optimizer.step()


def assert_same_weights(distributed, single, rtol=1e-5):
    for (name, got), (_, expected) in zip(distributed.state_dict().items(), single.state_dict().items()):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=rtol, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: ember.optim.SGD(params, lr=0.1, momentum=0.9),
    lambda params: ember.optim.Adam(params, lr=1e-2),
], ids=["sgd_momentum", "adam"])
@pytest.mark.parametrize("bucket_cap_mb", [25.0, 0.001])
def test_ranks_match_one_process_on_the_global_batch(world, make_optimizer, bucket_cap_mb):
    rank, size = world
    batches = global_batches(4)
    # every rank starts from a different initialisation: the wrapper must copy rank 0's
    replica = DistributedDataParallel(make_model(seed=rank), bucket_cap_mb=bucket_cap_mb)
    train(replica, make_optimizer(replica.parameters()), batches, rank, size)
    single = make_model(seed=0)
    train(single, make_optimizer(single.parameters()), batches)
    assert_same_weights(replica.module, single)


def test_buckets_follow_reverse_parameter_order_and_the_cap(world):
    model = make_model()
    replica = DistributedDataParallel(model, bucket_cap_mb=1000 / 2**20)  # 1000 bytes
    names = [name for bucket in replica._buckets for name in bucket.names]
    assert names == [name for name, _ in reversed(list(model.named_parameters()))]
    sizes = replica.bucket_sizes
    assert sum(sizes) == 4 * sum(p.numel() for p in model.parameters())
    for bucket in replica._buckets:  # a bucket exceeds the cap only when it holds a single parameter
        assert bucket.nbytes <= 1000 or len(bucket.params) == 1
    assert len(DistributedDataParallel(make_model()).bucket_sizes) == 1  # 7 KiB: under the first bucket's 1 MiB
    big = nn.Sequential(nn.Linear(600, 600), nn.Linear(600, 600), nn.Linear(600, 10))  # 1.37 MiB a weight
    sizes = DistributedDataParallel(big).bucket_sizes
    # last layer + layer 2 bias (1 MiB cap), then layer 2 weight + layer 1 (25 MiB cap)
    assert sizes == [4 * (600 * 10 + 10 + 600), 4 * (600 * 600 + 600 + 600 * 600)]


def test_no_sync_accumulates_locally_then_reduces_the_sum(world):
    rank, size = world
    first, second = global_batches(2)
    replica = DistributedDataParallel(make_model())
    single = make_model()

    def backward(model, batch, rank, size):
        images, labels = batch
        F.cross_entropy(model(ember.tensor(local_slice(images, rank, size))),
                        ember.tensor(local_slice(labels, rank, size))).backward()

    with replica.no_sync():
        backward(replica, first, rank, size)
    backward(replica, second, rank, size)  # reduces the accumulated gradients of both batches
    backward(single, first, 0, 1)
    backward(single, second, 0, 1)
    for got, expected in zip(replica.module.parameters(), single.parameters()):
        np.testing.assert_allclose(got.grad.numpy(), expected.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_gradients_are_local_inside_no_sync(world):
    rank, size = world
    replica = DistributedDataParallel(make_model())
    images, labels = global_batches(1)[0]
    with replica.no_sync():
        F.cross_entropy(replica(ember.tensor(local_slice(images, rank, size))),
                        ember.tensor(local_slice(labels, rank, size))).backward()
    local = make_model()
    F.cross_entropy(local(ember.tensor(local_slice(images, rank, size))),
                    ember.tensor(local_slice(labels, rank, size))).backward()
    for got, expected in zip(replica.module.parameters(), local.parameters()):
        np.testing.assert_allclose(got.grad.numpy(), expected.grad.numpy(), rtol=1e-6)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head_a = nn.Linear(4, 2)
        self.head_b = nn.Linear(4, 2)

    def forward(self, x, use_b):
        return (self.head_b if use_b else self.head_a)(self.body(x))


def test_unused_parameters_need_find_unused_parameters(world):
    ember.manual_seed(0)
    replica = DistributedDataParallel(TwoHeads())
    replica(ember.ones(2, 4), use_b=False).sum().backward()
    with pytest.raises(RuntimeError, match=r"did not finish reducing gradients: parameters \['head_b.bias', "
                                           r"'head_b.weight'\].*find_unused_parameters=True"):
        replica(ember.ones(2, 4), use_b=False)


def test_find_unused_parameters_reduces_what_any_rank_used(world):
    rank, size = world
    ember.manual_seed(0)
    replica = DistributedDataParallel(TwoHeads(), find_unused_parameters=True)
    x = ember.full((2, 4), float(rank + 1))
    replica(x, use_b=rank == 1).sum().backward()  # rank 1 (if any) uses head_b, rank 0 head_a
    head_b = replica.module.head_b.weight.grad
    if size == 1:
        assert head_b is None  # unused everywhere: .grad left as it was
    else:
        ember.manual_seed(0)
        reference = TwoHeads()
        reference(ember.full((2, 4), 2.0), use_b=True).sum().backward()
        np.testing.assert_allclose(head_b.numpy(), reference.head_b.weight.grad.numpy() / size, rtol=1e-6)
    # the next iteration works
    replica(x, use_b=False).sum().backward()


def test_state_dict_has_module_prefix_and_module_attribute(world):
    model = make_model()
    replica = DistributedDataParallel(model)
    assert replica.module is model
    assert all(key.startswith("module.") for key in replica.state_dict())


def test_wrap_without_process_group_or_bad_options_raises(world):
    with pytest.raises(TypeError, match=r"module must be an nn\.Module"):
        DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0"):
        DistributedDataParallel(make_model(), bucket_cap_mb=0)


def test_mismatched_models_are_detected_at_wrap_time(world):
    rank, size = world
    if size == 1:
        pytest.skip("needs two ranks (run under mpiexec -n 2)")
    model = nn.Sequential(nn.Linear(3, 4 + rank))
    with pytest.raises(ValueError, match=r"same model; parameter or buffer '0.weight' has shape \(4, 3\) float32 "
                                         r"on rank 0 but '0.weight' has shape \(5, 3\) float32 on rank 1"):
        DistributedDataParallel(model)


def test_distributed_sampler_gives_each_rank_a_disjoint_slice(world):
    from ember.utils.data import DataLoader, TensorDataset
    from ember.utils.data.distributed import DistributedSampler

    _rank, size = world
    dataset = TensorDataset(ember.arange(20))
    sampler = DistributedSampler(dataset, shuffle=True, seed=3)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        mine = [int(v) for (batch,) in DataLoader(dataset, batch_size=3, sampler=sampler) for v in batch.numpy()]
        every = [None] * size
        dist.all_gather_object(every, mine)
        assert all(len(part) == 20 // size for part in every)  # 20 splits evenly for 1 and 2 ranks
        assert sorted(index for part in every for index in part) == list(range(20))


def test_distributed_sampler_pads_and_drops_as_pytorch():
    from ember.utils.data.distributed import DistributedSampler

    assert [list(DistributedSampler(range(10), 3, rank, shuffle=False)) for rank in range(3)] == [
        [0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert [list(DistributedSampler(range(10), 3, rank, shuffle=False, drop_last=True)) for rank in range(3)] == [
        [0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert list(DistributedSampler(range(2), 5, 4, shuffle=False)) == [0]  # padded to [0, 1, 0, 1, 0]
    shuffled = DistributedSampler(range(10), 2, 0, seed=7)
    first = list(shuffled)
    assert first == list(shuffled)  # same epoch, same order
    shuffled.set_epoch(1)
    assert first != list(shuffled)
    with pytest.raises(ValueError, match=r"invalid rank 3, rank should be in \[0, 2\]"):
        DistributedSampler(range(10), 3, 3)


def test_buckets_start_during_backward_before_earlier_layers_have_gradients(world):
    model = make_model()
    replica = DistributedDataParallel(model, bucket_cap_mb=0.001)
    first_layer_weight = model[0].weight
    launches = []
    all_reduce = replica._backend.all_reduce

    def recording_all_reduce(array, op, finish=None):
        launches.append(first_layer_weight.grad is None)
        return all_reduce(array, op, finish)

    replica._backend = type("Recording", (), {"all_reduce": staticmethod(recording_all_reduce),
                                              "size": replica._backend.size})()
    images, labels = global_batches(1)[0]
    F.cross_entropy(replica(ember.tensor(images)), ember.tensor(labels)).backward()
    assert len(launches) == len(replica.bucket_sizes) > 2
    assert launches[0] and not launches[-1]  # the last layer's bucket left before the first layer's gradient


def test_a_model_without_trainable_parameters_is_an_error(world):
    with pytest.raises(ValueError, match="Sequential has no parameter that requires a gradient"):
        DistributedDataParallel(nn.Sequential(nn.ReLU()))


def test_forward_without_grad_does_not_start_a_reduction(world):
    ember.manual_seed(0)
    replica = DistributedDataParallel(TwoHeads(), find_unused_parameters=True)
    with ember.no_grad():
        replica(ember.ones(2, 4), use_b=False)
    replica(ember.ones(2, 4), use_b=False).sum().backward()
    assert replica.module.head_b.weight.grad is None and replica.module.head_a.weight.grad is not None
