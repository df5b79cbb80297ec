"""Optimizers and learning-rate schedulers (PyTorch's ``torch.optim``).

    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = ember.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    scheduler.step()
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from . import lr_scheduler
from . import swa_utils

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler", "swa_utils"]
