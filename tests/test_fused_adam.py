"""Adam as one fused kernel per variable: the update of Keras' Adam (under a mirrored strategy:
`tests/test_training.py`'s mirrored test, whose process has two logical CPUs)."""

import numpy as np
import tensorflow as tf

from s_cnn_rnn.training import stage_settings

SHAPES = [(3, 4), (4,), (5, 2, 2)]


def _train(optimizer_factory, steps: int = 12) -> list:
    """The variables after `steps` Adam updates from fixed values and gradients, in a tf.function."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=shape).astype(np.float32) for shape in SHAPES]
    gradients = [[rng.normal(size=shape).astype(np.float32) for shape in SHAPES] for _ in range(steps)]
    variables = [tf.Variable(value) for value in start]
    optimizer = optimizer_factory()
    optimizer.build(variables)

    @tf.function(autograph=False)
    def step(batch):
        optimizer.apply_gradients(zip(batch, variables))

    for batch in gradients:
        step([tf.constant(gradient) for gradient in batch])
    assert int(optimizer.iterations.numpy()) == steps
    return [variable.numpy() for variable in variables]


def test_fused_adam_updates_as_keras_adam():
    fused = _train(lambda: stage_settings.make_optimizer("adam", 1e-2, 0.0, "float32"))
    keras_adam = _train(lambda: tf.keras.optimizers.Adam(learning_rate=1e-2, epsilon=1e-8))
    moved = [np.max(np.abs(a - b)) for a, b in zip(fused, _train(lambda: tf.keras.optimizers.SGD(0.0)))]
    assert min(moved) > 1e-2  # the weights did move
    for got, expected in zip(fused, keras_adam, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_fused_adam_clips_and_scales_as_keras_adam():
    """Global-norm clipping and float16 loss scaling wrap the fused update as they wrap Keras'."""
    fused = _train(lambda: stage_settings.make_optimizer("adam", 1e-2, 0.5, "mixed_float16"))
    keras_adam = _train(lambda: tf.keras.optimizers.LossScaleOptimizer(
        tf.keras.optimizers.Adam(learning_rate=1e-2, epsilon=1e-8, global_clipnorm=0.5)))
    for got, expected in zip(fused, keras_adam, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
