"""Greedy and beam search against the pure-Python reference, edge cases, tf.function/XLA/export."""

import math

import numpy as np
import pytest
import tensorflow as tf

from decoding_reference import (
    MarkovToyModel,
    TinyRnnToyModel,
    beam_search_reference,
    greedy_reference,
)
from s_cnn_rnn.decoding import beam_search, greedy_decode
from s_cnn_rnn.decoding.beam_search import masked_top_k

PAD, START, END, A, B, C, D = range(7)
SPECIALS = (PAD, START)


def table_from_probs(rows, vocab_size=7):
    """[V, V] logits = log p(next | last); unlisted tokens get a negligible 1e-9."""
    table = np.full([vocab_size, vocab_size], math.log(1e-9), np.float32)
    for last, probs in rows.items():
        for token, prob in probs.items():
            table[last, token] = math.log(prob)
    return table


def markov(rows, batch=1, vocab_size=7):
    return MarkovToyModel(table_from_probs(rows, vocab_size), np.zeros([batch, vocab_size]))


def beams(output, example=0):
    """[(tokens, log_prob)] of one example."""
    return [
        (list(output.token_ids[example, j, : output.lengths[example, j]].numpy()),
         float(output.log_probs[example, j]))
        for j in range(output.token_ids.shape[1])
    ]


def assert_beam_parity(model, batch, beam_width, max_length, alpha=0.0, banned=SPECIALS):
    output = beam_search(model.step_fn, model.initial_state(), START, END, beam_width=beam_width,
                         max_length=max_length, length_normalization=alpha, banned_ids=banned)
    assert output.token_ids.shape == (batch, beam_width, max_length)
    for example in range(batch):
        expected = beam_search_reference(model.next_log_probs(example, START), END, beam_width,
                                         max_length, alpha, banned)
        got, empty_slots = beams(output, example)[: len(expected)], beams(output, example)[len(expected):]
        assert [tokens for tokens, _ in got] == [h.tokens for h in expected], example
        np.testing.assert_allclose([lp for _, lp in got], [h.log_prob for h in expected], atol=1e-4)
        assert all(slot == ([], float("-inf")) for slot in empty_slots)
        for j, h in enumerate(expected):  # 0-padded after the hypothesis
            assert not np.any(output.token_ids[example, j, len(h.tokens):].numpy())
    return output


# p(next | last) where beam search finds [b] (0.405) but greedy takes a, then END (0.2).
BEAM_BEATS_GREEDY = {
    START: {END: 0.05, A: 0.5, B: 0.45},
    A: {END: 0.4, A: 0.32, B: 0.28},
    B: {END: 0.9, A: 0.05, B: 0.05},
}


def test_beam_search_hand_computed_example():
    model = markov(BEAM_BEATS_GREEDY)
    output = beam_search(model.step_fn, model.initial_state(), START, END, beam_width=2,
                         max_length=5, banned_ids=SPECIALS)
    assert beams(output) == [([B], pytest.approx(math.log(0.45 * 0.9), abs=1e-4)),
                             ([A], pytest.approx(math.log(0.5 * 0.4), abs=1e-4))]
    greedy = greedy_decode(model.step_fn, model.initial_state(), START, END, 5, SPECIALS, no_repeat=False)
    assert greedy.token_ids.numpy().tolist() == [[A, END, 0, 0, 0]]
    assert greedy.lengths.numpy().tolist() == [1]
    np.testing.assert_allclose(greedy.token_probs.numpy(), [[0.5, 0.4, 0, 0, 0]], atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_search_matches_reference_on_random_rnns(seed, alpha):
    model = TinyRnnToyModel(vocab_size=9, hidden=6, batch=5, seed=seed, end_bias=1.0)
    assert_beam_parity(model, batch=5, beam_width=3, max_length=7, alpha=alpha)


def test_beam_search_matches_reference_with_a_large_vocabulary():
    # V = 2048 takes the chunked top-k path of the search.
    model = TinyRnnToyModel(vocab_size=2048, hidden=8, batch=2, seed=11, end_bias=6.0)
    assert_beam_parity(model, batch=2, beam_width=3, max_length=5, banned=(PAD, START, 1500))


@pytest.mark.parametrize("seed", range(3))
def test_beam_search_matches_reference_on_time_dependent_markov_models(seed):
    rng = np.random.default_rng(seed)
    model = MarkovToyModel(rng.normal(size=[8, 8]) * 2, rng.normal(size=[3, 8]),
                           step_bias=rng.normal(size=[6, 8]) * 2)
    assert_beam_parity(model, batch=3, beam_width=4, max_length=6, banned=(PAD, START, 7))


def test_beam_width_one_equals_greedy_without_no_repeat():
    model = TinyRnnToyModel(vocab_size=12, hidden=8, batch=6, seed=7, end_bias=0.5)
    greedy = greedy_decode(model.step_fn, model.initial_state(), START, END, 8, SPECIALS, no_repeat=False)
    beam = beam_search(model.step_fn, model.initial_state(), START, END, beam_width=1,
                       max_length=8, banned_ids=SPECIALS)
    np.testing.assert_array_equal(beam.lengths[:, 0], greedy.lengths)
    for example in range(6):
        length = int(greedy.lengths[example])
        np.testing.assert_array_equal(beam.token_ids[example, 0, :length],
                                      greedy.token_ids[example, :length])
    # The batch is not trivial: rows end at different steps, some never.
    assert len(set(greedy.lengths.numpy().tolist())) > 1


def test_no_finished_hypothesis_returns_best_live_ones():
    rng = np.random.default_rng(0)
    table = rng.normal(size=[7, 7]).astype(np.float32)
    table[:, END] = -50.0  # END never among a beam's top tokens
    model = MarkovToyModel(table, np.zeros([2, 7]))
    output = assert_beam_parity(model, batch=2, beam_width=3, max_length=4)
    np.testing.assert_array_equal(output.lengths, np.full([2, 3], 4))
    log_probs = output.log_probs.numpy()
    assert np.all(np.diff(log_probs, axis=1) <= 0)  # best first


def test_max_length_one():
    model = markov(BEAM_BEATS_GREEDY, batch=2)
    output = assert_beam_parity(model, batch=2, beam_width=3, max_length=1)
    # Only 3 continuable tokens from START; END is the 3rd most probable, so it finishes.
    assert beams(output)[0][0] == []
    greedy = greedy_decode(model.step_fn, model.initial_state(), START, END, 1, SPECIALS)
    assert greedy.token_ids.numpy().tolist() == [[A], [A]]
    assert greedy.lengths.numpy().tolist() == [1, 1]


def test_more_beams_than_possible_hypotheses_leaves_empty_slots():
    model = markov(BEAM_BEATS_GREEDY, vocab_size=5)  # only END, a, b can be emitted
    output = assert_beam_parity(model, batch=1, beam_width=4, max_length=1)
    assert beams(output) == [([], pytest.approx(math.log(0.05), abs=1e-4)),
                             ([A], pytest.approx(math.log(0.5), abs=1e-4)),
                             ([B], pytest.approx(math.log(0.45), abs=1e-4)), ([], float("-inf"))]
    assert output.lengths.numpy().tolist() == [[0, 1, 1, 0]]


def test_examples_ending_at_different_steps():
    # a -> b -> c -> END; example 1 cannot start at a, example 2 at neither a nor b.
    table = table_from_probs({START: {A: 0.98, B: 0.015, C: 0.005}, A: {B: 0.9, END: 0.1},
                              B: {C: 0.9, END: 0.1}, C: {END: 0.99, D: 0.01}, D: {END: 1.0}})
    example_bias = np.zeros([3, 7], np.float32)
    example_bias[1, A] = -20.0
    example_bias[2, [A, B]] = -20.0  # example 2 starts at c
    model = MarkovToyModel(table, example_bias)
    greedy = greedy_decode(model.step_fn, model.initial_state(), START, END, 6, SPECIALS)
    assert greedy.token_ids.numpy().tolist() == [[A, B, C, END, 0, 0], [B, C, END, 0, 0, 0],
                                                 [C, END, 0, 0, 0, 0]]
    assert greedy.lengths.numpy().tolist() == [3, 2, 1]
    probs = greedy.token_probs.numpy()
    assert np.all(probs[[0, 1, 2], [3, 2, 1]] > 0.9)  # END's own probability is reported
    assert np.all(probs[0, 4:] == 0) and np.all(probs[1, 3:] == 0) and np.all(probs[2, 2:] == 0)
    for example in range(3):
        tokens, length, token_probs = greedy_reference(model.next_log_probs(example, START), END, 6, SPECIALS)
        assert greedy.token_ids[example, : len(tokens)].numpy().tolist() == tokens
        np.testing.assert_allclose(probs[example, : len(tokens)], token_probs, atol=1e-5)
    beam = assert_beam_parity(model, batch=3, beam_width=2, max_length=6)
    assert beam.lengths[:, 0].numpy().tolist() == [3, 2, 1]


def test_banned_ids_never_appear():
    rng = np.random.default_rng(3)
    table = rng.normal(size=[7, 7]).astype(np.float32)
    table[:, [PAD, D]] += 10.0  # the banned ids are the model's favourites
    model = MarkovToyModel(table, rng.normal(size=[4, 7]))
    banned = (PAD, START, D)
    beam = assert_beam_parity(model, batch=4, beam_width=3, max_length=5, banned=banned)
    greedy = greedy_decode(model.step_fn, model.initial_state(), START, END, 5, banned, no_repeat=False)
    for token_ids, lengths in [(beam.token_ids.numpy(), beam.lengths.numpy()),
                               (greedy.token_ids.numpy()[:, None], greedy.lengths.numpy()[:, None])]:
        for index in np.ndindex(lengths.shape):
            assert not set(token_ids[index][: lengths[index]]) & set(banned)


def test_no_repeat_masks_emitted_tokens_but_not_end():
    # a -> a is the strongest transition; END is weak until every label was used.
    model = markov({START: {A: 0.7, B: 0.2, C: 0.09, END: 0.01},
                    A: {A: 0.8, B: 0.1, C: 0.06, END: 0.04},
                    B: {A: 0.6, B: 0.3, C: 0.06, END: 0.04},
                    C: {A: 0.6, B: 0.2, C: 0.15, END: 0.05}}, vocab_size=6)
    repeating = greedy_decode(model.step_fn, model.initial_state(), START, END, 4, SPECIALS, no_repeat=False)
    assert repeating.token_ids.numpy().tolist() == [[A, A, A, A]]
    assert repeating.lengths.numpy().tolist() == [4]
    unique = greedy_decode(model.step_fn, model.initial_state(), START, END, 6, SPECIALS, no_repeat=True)
    assert unique.token_ids.numpy().tolist() == [[A, B, C, END, 0, 0]]
    tokens, length, probs = greedy_reference(model.next_log_probs(0, START), END, 6, SPECIALS)
    assert tokens == [A, B, C, END] and length == 3
    np.testing.assert_allclose(unique.token_probs.numpy()[0, :4], probs, atol=1e-5)
    np.testing.assert_allclose(probs, [0.7, 0.1, 0.06, 0.05], atol=1e-5)  # unmasked model probs


def test_length_normalisation_prefers_the_longer_caption():
    # [a] END: 0.6 * 0.9 = 0.54 (per token 0.735); [b c d] END: 0.4 * 0.95^3 = 0.343 (0.765).
    model = markov({START: {A: 0.6, B: 0.4}, A: {END: 0.9, D: 0.1}, B: {C: 0.95, END: 0.05},
                    C: {D: 0.95, END: 0.05}, D: {END: 0.95, A: 0.05}})
    plain = assert_beam_parity(model, batch=1, beam_width=2, max_length=6, alpha=0.0)
    normalised = assert_beam_parity(model, batch=1, beam_width=2, max_length=6, alpha=1.0)
    assert [tokens for tokens, _ in beams(plain)] == [[A], [B, C, D]]
    assert [tokens for tokens, _ in beams(normalised)] == [[B, C, D], [A]]
    # log_probs stay raw sums, whatever the ranking.
    assert beams(normalised)[0][1] == pytest.approx(math.log(0.4 * 0.95**3), abs=1e-4)


def test_early_stop_runs_fewer_steps_and_changes_nothing():
    model = markov(BEAM_BEATS_GREEDY, batch=2)
    calls = []

    def counting_step_fn(token_ids, state):  # eager while_loop: the body runs once per step
        calls.append(1)
        return model.step_fn(token_ids, state)

    output = beam_search(counting_step_fn, model.initial_state(), START, END, beam_width=2,
                         max_length=20, banned_ids=SPECIALS)
    assert len(calls) == 2  # both examples are settled after two steps (see the hand example)
    assert beams(output, 1)[0][0] == [B]


def keras_lstm_decoder(vocab_size=50, units=16, batch=4, seed=0):
    tf.keras.utils.set_random_seed(seed)
    embedding = tf.keras.layers.Embedding(vocab_size, 8)
    cell = tf.keras.layers.LSTMCell(units)
    output = tf.keras.layers.Dense(vocab_size)
    output.build([None, units])
    cell.build([None, 8])
    output.bias.assign(tf.random.normal([vocab_size]) + tf.one_hot(END, vocab_size) * 1.5)

    def step_fn(token_ids, state):
        hidden, new_state = cell(embedding(token_ids), list(state))
        return output(hidden) * 3.0, tuple(new_state)

    initial_state = tuple(tf.random.normal([batch, units], seed=seed) for _ in range(2))
    return step_fn, initial_state


def test_keras_lstm_beams_identical_eager_tf_function_and_xla():
    step_fn, initial_state = keras_lstm_decoder()

    def decode(state):
        return beam_search(step_fn, state, START, END, beam_width=3, max_length=12,
                           banned_ids=SPECIALS)

    eager = decode(initial_state)
    graph = tf.function(decode)(initial_state)
    xla = tf.function(decode, jit_compile=True)(initial_state)
    for other in (graph, xla):
        np.testing.assert_array_equal(other.token_ids, eager.token_ids)
        np.testing.assert_array_equal(other.lengths, eager.lengths)
        np.testing.assert_allclose(other.log_probs, eager.log_probs, atol=1e-4)
    assert len(set(eager.lengths.numpy().ravel().tolist())) > 1


def test_greedy_under_xla_matches_eager():
    step_fn, initial_state = keras_lstm_decoder(seed=1)

    def decode(state):
        return greedy_decode(step_fn, state, START, END, 10, SPECIALS)

    eager = decode(initial_state)
    xla = tf.function(decode, jit_compile=True)(initial_state)
    np.testing.assert_array_equal(xla.token_ids, eager.token_ids)
    np.testing.assert_array_equal(xla.lengths, eager.lengths)
    np.testing.assert_allclose(xla.token_probs, eager.token_probs, atol=1e-5)


def test_decoders_run_inside_an_exported_saved_model(tmp_path):
    model = TinyRnnToyModel(vocab_size=9, hidden=6, batch=3, seed=1, end_bias=1.0)
    module = tf.Module()
    module.decode = tf.function(
        lambda h: (beam_search(model.step_fn, h, START, END, 3, 7, banned_ids=SPECIALS).token_ids,
                   greedy_decode(model.step_fn, h, START, END, 7, SPECIALS).token_ids),
        input_signature=[tf.TensorSpec([None, 6], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    beam_ids, greedy_ids = loaded.decode(model.initial_state())
    np.testing.assert_array_equal(
        beam_ids, beam_search(model.step_fn, model.initial_state(), START, END, 3, 7,
                              banned_ids=SPECIALS).token_ids)
    np.testing.assert_array_equal(
        greedy_ids, greedy_decode(model.step_fn, model.initial_state(), START, END, 7, SPECIALS).token_ids)
    assert loaded.decode(model.initial_state()[:1])[0].shape == (1, 3, 7)  # any batch size


@pytest.mark.parametrize("vocab_size,k,banned", [(12000, 3, (0, 1)), (12000, 5, (0, 1, 61, 11999)),
                                                 (2048, 3, ()), (1031, 3, (2,)), (50, 3, (0,))])
def test_masked_top_k_equals_tf_top_k_including_ties(vocab_size, k, banned):
    rng = np.random.default_rng(vocab_size + k)
    logits = np.round(rng.normal(size=[7, vocab_size]) * 2).astype(np.float32)  # many ties
    logits[0, list(banned)] = 100.0  # banned ids would win
    logits[1, :] = 0.0  # all tied
    expected_logits = logits.copy()
    expected_logits[:, list(banned)] = -1e9
    expected = tf.math.top_k(expected_logits, k)
    for fn in (masked_top_k, tf.function(masked_top_k, jit_compile=True)):
        values, ids = fn(tf.constant(logits), k, banned)
        np.testing.assert_array_equal(values, expected.values)
        np.testing.assert_array_equal(ids, expected.indices)


def test_bad_settings_are_rejected():
    model = markov(BEAM_BEATS_GREEDY)
    with pytest.raises(ValueError, match="end_id"):
        greedy_decode(model.step_fn, model.initial_state(), START, END, 5, banned_ids=(END,))
    with pytest.raises(ValueError, match="max_length"):
        beam_search(model.step_fn, model.initial_state(), START, END, max_length=0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(model.step_fn, model.initial_state(), START, END, beam_width=0)


@pytest.mark.parametrize("batch", [1, 2])
def test_beam_search_any_batch_size_eager_graph_and_xla(batch):
    """A batch of exactly 1 (static) used to fail in tf.function: the state's batch dim went from
    3 (= 1 * beam) to None after one iteration of the while loop."""
    model = TinyRnnToyModel(vocab_size=9, hidden=6, batch=batch, seed=3, end_bias=1.0)

    def decode(state):
        return beam_search(model.step_fn, state, START, END, beam_width=3, max_length=6, banned_ids=SPECIALS)

    eager = decode(model.initial_state())
    fixed = tf.function(decode, input_signature=[tf.TensorSpec([batch, 6], tf.float32)])
    for other in (fixed(model.initial_state()), tf.function(decode, jit_compile=True)(model.initial_state())):
        assert other.token_ids.shape == (batch, 3, 6)
        np.testing.assert_array_equal(other.token_ids, eager.token_ids)
        np.testing.assert_allclose(other.log_probs, eager.log_probs, atol=1e-4)
    assert_beam_parity(model, batch, beam_width=3, max_length=6)
