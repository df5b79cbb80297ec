"""Keras callbacks: hooks into ``fit``/``evaluate``/``predict``."""
from .base import Callback, CallbackList, History, ProgbarLogger
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping, TerminateOnNaN
from .lambda_callback import LambdaCallback
from .monitoring import MonitorCallback
from .monitors import OverfittingMonitor
from .plotting import PlotTraining
from .schedules import LearningRateScheduler, ReduceLROnPlateau

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "LearningRateScheduler", "ReduceLROnPlateau",
    "EarlyStopping", "TerminateOnNaN", "ModelCheckpoint", "CSVLogger", "LambdaCallback", "MonitorCallback",
    "OverfittingMonitor", "PlotTraining",
]
