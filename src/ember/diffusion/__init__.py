"""``ember.diffusion``: a text-conditioned UNet DDPM that draws MNIST digits.

Noise schedules (linear, cosine), the forward process ``q_sample``, the ε-prediction loss, an ancestral DDPM
sampler and a deterministic DDIM sampler, classifier-free guidance, a UNet written with ``ember.nn``, a small
transformer text encoder for prompts such as ``"a handwritten seven"``, training, safetensors checkpoints that
carry their configuration, PNG grids, and the recognised-digit rate of samples. See docs/diffusion.md.
"""
from .schedule import (
    NoiseSchedule, cosine_beta_schedule, ddim_step, ddpm_step, guided_noise, linear_beta_schedule,
    noise_prediction_loss, predicted_x0, q_sample,
)
from .unet import UNet, ResidualBlock, SelfAttention2d, sinusoidal_embedding
from .text import (
    DIGIT_WORDS, EVALUATION_TEMPLATES, TRAINING_TEMPLATES, VOCABULARY, TextEncoder, encode_prompts, prompt_for,
    tokenize,
)
from .model import DiffusionConfig, DiffusionModel, load_checkpoint, read_checkpoint, save_checkpoint
from .training import image_grid, mnist_images, png_bytes, train, write_png
from .evaluate import classify_digits, load_classifier, recognition_rate, train_digit_classifier
from .evaluate import classifier_features, feature_statistics, frechet_distance

__all__ = [
    "NoiseSchedule", "cosine_beta_schedule", "ddim_step", "ddpm_step", "guided_noise", "linear_beta_schedule",
    "noise_prediction_loss", "predicted_x0", "q_sample", "UNet", "ResidualBlock", "SelfAttention2d",
    "sinusoidal_embedding", "DIGIT_WORDS", "EVALUATION_TEMPLATES", "TRAINING_TEMPLATES", "VOCABULARY",
    "TextEncoder", "encode_prompts", "prompt_for", "tokenize", "DiffusionConfig", "DiffusionModel",
    "load_checkpoint", "read_checkpoint", "save_checkpoint", "image_grid", "mnist_images", "png_bytes", "train",
    "write_png", "classify_digits", "load_classifier", "recognition_rate", "train_digit_classifier",
    "classifier_features", "feature_statistics", "frechet_distance",
]
