"""How one training stage is configured (`StageSettings`, the fields `s-cnn-rnn-train`'s flags are
derived from) and the optimizer it builds (`make_optimizer`, TF1's epsilon). The loop that uses
them is `trainer.py`.
"""

import dataclasses

import keras
import tensorflow as tf

from s_cnn_rnn import errors
from s_cnn_rnn.training import runtime
from s_cnn_rnn.training import stages


@dataclasses.dataclass
class StageSettings:
    """How one stage trains. The comments are the help of `s-cnn-rnn-train`'s flags, which are
    derived from these fields (`--<stage>_train_steps`, `--<stage>_learning_rate`,
    `--<stage>_optimizer`, `--cnn_head_steps`; the others are one flag for every stage).

    Raises:
      OptionError: on construction, a value that makes no sense (a step count < 1, ...).
    """

    # One of stages.STAGES ("tags", "cnn", "rnn", "decoder", "joint").
    stage: str
    # The stage's number of steps after its head-only phase (a rerun resumes up to it).
    train_steps: int
    # Global batch size, split over replicas (T4: 32).
    batch_size: int
    # Constant learning rate (the paper gives no schedule).
    learning_rate: float = 1e-4
    # rmsprop (the paper's, T5) | adam | sgd.
    optimizer: str = "rmsprop"
    # First train only the concept layer this many steps, before the train_steps (T4; cnn stage).
    head_steps: int = 0
    # Clip gradients to this global norm (0 = off).
    gradient_clip_norm: float = 0.0
    # Steps between log lines and history records.
    log_every: int = 50
    # Steps between checkpoints.
    checkpoint_every: int = 500
    # Steps between validations (0 = never).
    validate_every: int = 500
    # Batches per validation (0 = the whole split).
    validation_steps: int = 20
    # The Keras dtype policy name (float16 gets loss scaling).
    mixed_precision: str = "float32"
    # XLA-compile the training step.
    jit_compile: bool = False

    @property
    def total_steps(self) -> int:
        """The head-only phase's steps, then the `train_steps` all-layer steps (Sec. 5.1)."""
        return self.head_steps + self.train_steps

    def __post_init__(self):
        owner = f"StageSettings(stage={self.stage!r})"
        errors.check_choice(owner, "stage", self.stage, stages.STAGES)
        errors.check_choice(owner, "optimizer", self.optimizer, OPTIMIZERS)
        for name in ("train_steps", "batch_size", "log_every", "checkpoint_every"):
            errors.check_at_least(owner, name, getattr(self, name), 1)
        for name in ("head_steps", "validate_every", "validation_steps"):
            errors.check_at_least(owner, name, getattr(self, name), 0)
        errors.check_at_least(owner, "gradient_clip_norm", self.gradient_clip_norm, 0.0)
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) or not (
                self.learning_rate > 0):
            raise errors.OptionError(f"{owner}.learning_rate={self.learning_rate!r}: must be > 0",
                                     field="learning_rate", reason="must be > 0")


OPTIMIZERS = ("rmsprop", "adam", "sgd")


# TF1's defaults where Keras' differ (the paper trained with TF1 RMSProp: decay 0.9, no momentum,
# epsilon 1e-10; Keras' RMSprop has rho 0.9 and epsilon 1e-7). TF1 also starts the mean-square
# accumulator at 1 where Keras starts it at 0: `TF1RMSprop` (BUILD_NOTES D-10).
TF1_EPSILON = {"rmsprop": 1e-10, "adam": 1e-8}


class TF1RMSprop(keras.optimizers.RMSprop):
    """Keras' RMSprop with its mean-square accumulators ("velocity") starting at 1.0, as in TF1.

    TF1's `RMSPropOptimizer`, which the paper trained with, initialises the accumulator `ms` to ones.
    From Keras' zeros the first update is lr * g / sqrt(0.1 g^2) = lr * sqrt(10) * sign(g) for every
    weight with a gradient; from ones it is lr * g / sqrt(0.9 + 0.1 g^2), about lr * g for the small
    gradients of a network. Created through the initializer (not assigned after building), so a
    checkpoint's restored value still wins. The slot names are Keras', so checkpoints interchange.
    """

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        if name == "velocity":
            initializer = "ones"
        return super().add_optimizer_variables(trainable_variables, name, initializer=initializer)


class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam with each variable's update as TensorFlow's fused `ResourceApplyAdam` kernel.

    The same formula (lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), var -= lr_t m / (sqrt(v) + eps)) in one op
    instead of Keras' dozen small ones per variable: a train step traces ~0.4 CPU s sooner (22 variables,
    0.63-0.84 -> 0.24-0.26 s) and runs one kernel per variable. The update equals Keras' up to float
    rounding (`tests/test_fused_adam.py`); the slots are Keras', so checkpoints interchange.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        # `.value`: the slots' tf.Variables (under a distribution strategy, this device's copy in update()).
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle, v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype))  # a sparse gradient densified, as Keras' ops do


def make_optimizer(name: str, learning_rate: float, clip_norm: float, precision: str):
    """Builds a Keras optimizer by name (TF1's epsilon; RMSprop's accumulators start at 1 as TF1's; Adam's
    update one fused kernel per variable), with loss scaling for float16."""
    kwargs = {"learning_rate": learning_rate}
    if name in TF1_EPSILON:
        kwargs["epsilon"] = TF1_EPSILON[name]
    if clip_norm > 0:
        kwargs["global_clipnorm"] = clip_norm
    builders = {
        "rmsprop": TF1RMSprop,
        "adam": FusedAdam,
        "sgd": keras.optimizers.SGD,
    }
    if name not in builders:
        raise ValueError(f"optimizer must be one of {sorted(builders)}, got {name!r}")
    return runtime.maybe_loss_scale(builders[name](**kwargs), precision)
