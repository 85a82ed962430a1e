"""--label_decoding: greedy masking emitted labels (default) or the paper's plain greedy, pure TF."""

import numpy as np
import pytest
import tensorflow as tf

import serving_fixtures
from tests import cli_runner
from s_cnn_rnn import decode_options
from s_cnn_rnn import errors
from s_cnn_rnn import inference
from s_cnn_rnn import record_schema
from s_cnn_rnn import tasks

VOCAB = 8
FAVOURITE = 5  # the step function's most probable token at every step, END the second


def _step(token_ids, state):
    logits = tf.one_hot(tf.fill(tf.shape(token_ids), FAVOURITE), VOCAB) * 4.0
    logits += tf.one_hot(tf.fill(tf.shape(token_ids), record_schema.END_ID), VOCAB) * 2.0
    return logits, state


@pytest.mark.parametrize("no_repeat, expected", [(True, [FAVOURITE, record_schema.END_ID, 0, 0]),
                                                 (False, [FAVOURITE] * 4)])
def test_plain_greedy_may_repeat_a_label_masked_greedy_never(no_repeat, expected):
    state = (tf.zeros([2, 3]),)
    decode = tf.function(lambda s: inference.decode(
        tasks.get("multilabel"), _step, s, max_length=4, beam_width=1, length_normalization=0.0, no_repeat=no_repeat))
    result = decode(state)
    np.testing.assert_array_equal(result["token_ids"].numpy(), [expected, expected])


def test_the_option_is_checked_and_reaches_the_annotator(tiny_synthetic_data, tmp_path):
    with pytest.raises(errors.OptionError, match="label_decoding"):
        decode_options.DecodeOptions(label_decoding="sampled")
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tmp_path / "model"), "multilabel")
    trained = inference.load_trained_model(model_dir)
    assert inference.Annotator(trained).no_repeat and not inference.Annotator(trained, label_decoding="plain").no_repeat
    image = tmp_path / "photo.jpg"
    image.write_bytes(serving_fixtures.record_images(tiny_synthetic_data, count=1)[0]["jpeg"])
    done = cli_runner.run("s_cnn_rnn.predict", f"--model_dir={model_dir}", "--label_decoding=sampled", str(image))
    assert done.returncode == 2 and "--label_decoding" in done.stderr
    assert cli_runner.run("s_cnn_rnn.predict", f"--model_dir={model_dir}", "--label_decoding=plain", str(image)).returncode == 0
