"""Device-level settings: distribution strategy, mixed precision, determinism.

Nothing here assumes a CPU: the same calls pick up every visible GPU.
"""

import random

import keras
import numpy as np
import tensorflow as tf

DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def make_strategy(distribution: str) -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy for `--distribution`.

    Args:
      distribution: "none" (the default strategy: one device), "mirrored" (every local
        GPU, or the CPU), or "multi_worker" (hosts listed in the TF_CONFIG environment
        variable, each running this same command with its own task index).
    """
    if distribution == "none":
        return tf.distribute.get_strategy()
    if distribution == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribution == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")


def set_precision(policy: str) -> None:
    """Sets the Keras global dtype policy (`--mixed_precision`).

    The concept and word logits are float32 layers whatever the policy, so losses and
    sigmoids stay in float32; float16 training also wraps the optimizer in loss scaling
    (see `maybe_loss_scale`).
    """
    if policy not in PRECISIONS:
        raise ValueError(f"--mixed_precision must be one of {PRECISIONS}, got {policy!r}")
    keras.mixed_precision.set_global_policy(policy)


def maybe_loss_scale(optimizer: keras.optimizers.Optimizer, policy: str) -> keras.optimizers.Optimizer:
    """Wraps the optimizer in dynamic loss scaling for float16 (bfloat16 needs none)."""
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def set_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy, TF and Keras; with `deterministic`, also enables op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
