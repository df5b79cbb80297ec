"""SyncBatchNorm under DDP: statistics over the global batch, so N ranks train as one process does with
BatchNorm on the whole batch (weights and running statistics)."""
import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.nn.parallel import DistributedDataParallel

from .test_ddp import GLOBAL_BATCH, assert_same_weights, local_slice


def make_model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))


def test_sync_batchnorm_ranks_match_batchnorm_on_the_global_batch(world):
    rank, size = world
    generator = np.random.default_rng(2)
    batches = [(generator.standard_normal((GLOBAL_BATCH, 2, 4, 4)).astype(np.float32) * 3 + 1,
                generator.integers(0, 3, GLOBAL_BATCH)) for _ in range(3)]
    replica = DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(make_model()))
    single = make_model()
    for model, part in ((replica, (rank, size)), (single, (0, 1))):
        optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for images, labels in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(ember.tensor(local_slice(images, *part))),
                            ember.tensor(local_slice(labels, *part))).backward()
            optimizer.step()
    assert isinstance(replica.module[1], nn.SyncBatchNorm) and isinstance(replica.module[5], nn.SyncBatchNorm)
    assert_same_weights(replica.module, single)  # running_mean/var and num_batches_tracked included


def test_convert_keeps_parameters_and_buffers_and_eval_is_batchnorm(world):
    model = make_model()
    weight, running_mean = model[1].weight, model[1].running_mean
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted[1].weight is weight and converted[1].running_mean is running_mean
    assert list(converted.state_dict()) == list(make_model().state_dict())
    converted.eval()
    x = ember.randn(4, 2, 4, 4)
    reference = make_model().eval()
    np.testing.assert_allclose(converted(x).numpy(), reference(x).numpy(), rtol=1e-6)
