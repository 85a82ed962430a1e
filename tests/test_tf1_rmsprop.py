"""RMSprop as TF1's RMSPropOptimizer (the paper's): mean-square accumulators start at 1.0."""

import numpy as np
import pytest
import tensorflow as tf

from s_cnn_rnn.training import stage_settings

GRADIENT = np.array([1e-3, -1e-2, 0.1, 1.0, 0.0], np.float32)


def _first_step(optimizer) -> np.ndarray:
    variable = tf.Variable(np.zeros(len(GRADIENT), np.float32))
    optimizer.apply_gradients([(tf.constant(GRADIENT), variable)])
    return variable.numpy()


def test_the_first_step_is_tf1s_not_lr_times_sqrt_10():
    learning_rate = 1e-3
    step = _first_step(stage_settings.make_optimizer("rmsprop", learning_rate, 0.0, "float32"))
    # TF1: ms = 0.9 * 1 + 0.1 g^2, step = -lr g / sqrt(ms + eps); about -lr g for small gradients.
    expected = -learning_rate * GRADIENT / np.sqrt(0.9 + 0.1 * GRADIENT ** 2 + 1e-10)
    np.testing.assert_allclose(step, expected, rtol=1e-5)
    assert abs(step[0]) < 2e-6  # Keras' zero start moves it by lr * sqrt(10) = 3.2e-3
    zero_start = _first_step(tf.keras.optimizers.RMSprop(learning_rate=learning_rate, epsilon=1e-10))
    np.testing.assert_allclose(np.abs(zero_start[:4]), learning_rate * np.sqrt(10), rtol=1e-3)


def test_a_restored_accumulator_is_not_reset_to_one(tmp_path):
    variable = tf.Variable(np.zeros(len(GRADIENT), np.float32))
    optimizer = stage_settings.make_optimizer("rmsprop", 1e-3, 0.0, "float32")
    for _ in range(3):
        optimizer.apply_gradients([(tf.constant(GRADIENT), variable)])
    velocity = _velocity(optimizer)
    path = tf.train.Checkpoint(variable=variable, optimizer=optimizer).save(str(tmp_path / "ckpt"))

    fresh_variable = tf.Variable(np.zeros(len(GRADIENT), np.float32))
    fresh = stage_settings.make_optimizer("rmsprop", 1e-3, 0.0, "float32")
    tf.train.Checkpoint(variable=fresh_variable, optimizer=fresh).restore(path)  # slots restored when built
    fresh.build([fresh_variable])
    np.testing.assert_allclose(_velocity(fresh), velocity)
    assert not np.allclose(velocity, 1.0)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_the_accumulators_start_at_one_under_mixed_precision(precision):
    optimizer = stage_settings.make_optimizer("rmsprop", 1e-3, 0.0, precision)
    variable = tf.Variable(np.zeros(3, np.float32))
    optimizer.build([variable])
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    np.testing.assert_array_equal(_velocity(inner), np.ones(3))


def _velocity(optimizer) -> np.ndarray:
    return optimizer._velocities[0].numpy()  # pylint: disable=protected-access
