"""Batched, in-graph beam search (SPEC I2: captions with beam width 3).

Same model contract as greedy decoding: `step_fn(token_ids [N] int32, state) -> (logits [N, V],
new_state)` with `state` a nested structure of `[N, ...]` tensors; here `N = batch * beam`.

Live and finished hypotheses are kept apart (as im2txt and flax's WMT example do):
- as in im2txt, every live hypothesis proposes its `beam_width` most probable allowed tokens;
  an END proposal goes to the finished pool (the best `beam_width` by score are kept), the
  others compete for the `beam_width` live slots. A finished hypothesis never returns to the
  live set. With beam_width 1 this is exactly greedy decoding (without no_repeat);
- log-probs are the model's own (softmax over all V); banned ids are only never chosen;
- score = log-prob / length**alpha, length counting END (alpha = 0 by default: no normalisation,
  as in the paper and NIC);
- an example is done when its finished pool is full and its best live hypothesis cannot beat the
  worst finished one any more; the loop stops when every example is done, or at `max_length`;
- the result lists the finished hypotheses best first, then (if fewer than `beam_width` ended)
  the best live ones, cut at `max_length`.

All shapes are static given `beam_width` and `max_length`, so the search runs eagerly, inside
`tf.function`, under XLA and inside an exported SavedModel.
"""

from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from s_cnn_rnn.decoding.step_contract import (
    NEG_INF,
    StepFn,
    banned_token_mask,
    check_decoding_args,
    leading_batch_size,
    match_state_structure,
)

# A hypothesis whose log-prob is below this is a placeholder (dead slot), not a real one.
_VALID_THRESHOLD = NEG_INF / 2


class BeamOutput(NamedTuple):
    """Beam search result, hypotheses sorted best first.

    Attributes:
      token_ids: int32 `[batch, beam, max_length]`: tokens, END not included, 0 after the end.
      log_probs: float32 `[batch, beam]`: sum of the token log-probs (END's included for
        finished hypotheses); -inf for an empty slot (fewer real hypotheses than the beam).
      lengths: int32 `[batch, beam]`: number of tokens (END not counted).
    """

    token_ids: tf.Tensor
    log_probs: tf.Tensor
    lengths: tf.Tensor


class _SearchState(NamedTuple):
    step: tf.Tensor  # int32 scalar: tokens emitted so far by every live hypothesis
    live_last_ids: tf.Tensor  # int32 [B * K]: last token of each live hypothesis
    live_decoder_state: object  # nested [B * K, ...]
    live_token_ids: tf.Tensor  # int32 [B, K, T]
    live_log_probs: tf.Tensor  # float32 [B, K], sorted descending
    finished_token_ids: tf.Tensor  # int32 [B, K, T]
    finished_scores: tf.Tensor  # float32 [B, K], sorted descending, NEG_INF if empty
    finished_log_probs: tf.Tensor  # float32 [B, K]
    finished_lengths: tf.Tensor  # int32 [B, K]
    finished_flags: tf.Tensor  # bool [B, K]


def _length_penalty(length, alpha: float) -> tf.Tensor:
    """length**alpha as float32 (1 when alpha == 0)."""
    return tf.pow(tf.cast(length, tf.float32), alpha)


def _write_at(token_ids, step, new_ids):
    """token_ids [B, K, T] with position `step` set to new_ids [B, K]."""
    at_step = tf.equal(tf.range(tf.shape(token_ids)[-1]), step)  # [T]
    return tf.where(at_step, new_ids[:, :, None], token_ids)  # [B, K, T]


def _chunk_size(vocab_size, k: int):
    """A divisor S of a static vocab_size that makes chunked top-k cheap, or None."""
    if vocab_size is None or vocab_size < 1024:
        return None
    # Work ~ one pass over V, then top-k over V / S chunk maxima and over k * S candidates.
    divisors = [s for s in range(k, vocab_size // k + 1) if vocab_size % s == 0]
    best = min(divisors, key=lambda s: vocab_size // s + k * s, default=None)
    return best if best is not None and vocab_size // best + k * best < vocab_size // 8 else None


def masked_top_k(logits, k: int, banned_ids: Sequence[int] = ()):
    """`tf.math.top_k(logits with banned ids at NEG_INF, k)`, same values, ids and tie order.

    TF's CPU TopK costs ~5x a full pass over `[N, V]` (10 ms of a 30 ms beam step at V=12,000),
    so for a static, large V the search is two-level: the max of each chunk of S ids (one
    pass), the k best chunks (the k best ids lie in them), then top-k over those k * S ids.
    Chunks are gathered in id order, so ties still go to the lower id, as in `tf.math.top_k`.

    Args:
      logits: float32 `[N, V]`.
      k: static number of ids to keep.
      banned_ids: ids treated as NEG_INF.

    Returns:
      values float32 `[N, k]` and ids int32 `[N, k]`, best first.
    """
    vocab_size = logits.shape[-1]
    chunk = _chunk_size(vocab_size, k)
    if chunk is None:
        if banned_ids:
            banned = banned_token_mask(banned_ids, tf.shape(logits)[-1])  # [V]
            logits = tf.where(banned[None, :], NEG_INF, logits)  # [N, V]
        return tf.math.top_k(logits, k=k)
    num_rows, num_chunks = tf.shape(logits)[0], vocab_size // chunk
    chunks = tf.reshape(logits, [num_rows, num_chunks, chunk])  # [N, C, S]
    chunk_max = tf.reduce_max(chunks, axis=-1)  # [N, C]
    banned_in_chunk = np.zeros([num_chunks, chunk], bool)  # [C, S]
    banned_in_chunk.flat[list(banned_ids)] = True
    if banned_ids:
        # Only the few chunks holding a banned id need their max taken again without it.
        fixed = sorted({i // chunk for i in banned_ids})
        masked = tf.where(banned_in_chunk[fixed], NEG_INF, tf.gather(chunks, fixed, axis=1))  # [N, F, S]
        position = np.zeros([num_chunks], np.int32)
        position[fixed] = range(len(fixed))
        chunk_max = tf.where(
            banned_in_chunk.any(axis=1),
            tf.gather(tf.reduce_max(masked, axis=-1), position, axis=1),
            chunk_max,
        )  # [N, C]
    _, best_chunks = tf.math.top_k(chunk_max, k=k)  # [N, k]
    best_chunks = tf.sort(best_chunks, axis=-1)  # [N, k], id order keeps top_k's tie order
    candidates = tf.gather(chunks, best_chunks, batch_dims=1)  # [N, k, S]
    if banned_ids:
        candidates = tf.where(
            tf.gather(tf.constant(banned_in_chunk), best_chunks), NEG_INF, candidates
        )  # [N, k, S]
    values, flat_index = tf.math.top_k(tf.reshape(candidates, [num_rows, k * chunk]), k=k)  # [N, k]
    ids = tf.gather(best_chunks, flat_index // chunk, batch_dims=1) * chunk + flat_index % chunk  # [N, k]
    return values, ids


def _batch_dim_unknown(tensor) -> tf.TensorShape:
    """The shape of a `[N, ...]` loop tensor with N left unknown (scalars keep their shape)."""
    shape = tensor.shape
    if shape.rank in (None, 0):
        return shape
    return tf.TensorShape([None]).concatenate(shape[1:])


def _tile_beams(state, beam_width: int):
    """Nested [B, ...] -> [B * K, ...], each example repeated beam_width times in a row."""
    return tf.nest.map_structure(lambda s: tf.repeat(s, beam_width, axis=0), state)


def beam_search(
    step_fn: StepFn,
    initial_state,
    start_id: int,
    end_id: int,
    beam_width: int = 3,
    max_length: int = 20,
    length_normalization: float = 0.0,
    banned_ids: Sequence[int] = (),
) -> BeamOutput:
    """Beam search over a batch of examples, entirely in-graph.

    Args:
      step_fn: `(token_ids [N] int32, state) -> (logits [N, V], new_state)`.
      initial_state: nested structure of `[batch, ...]` tensors; the batch size comes from it.
      start_id: token fed at the first step.
      end_id: stop token.
      beam_width: static number of hypotheses kept per example.
      max_length: static maximum number of steps (tokens, END included).
      length_normalization: alpha in score = log_prob / length**alpha (0 = off).
      banned_ids: tokens never emitted (e.g. `<pad>`, `<start>`, `<unk>`).

    Returns:
      A `BeamOutput`.
    """
    check_decoding_args(end_id, max_length, banned_ids)
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a Python int >= 1 (static), got {beam_width!r}")
    alpha = float(length_normalization)
    k = beam_width
    batch_size = leading_batch_size(initial_state)
    # Best score a live hypothesis could still reach is its log-prob (which only falls)
    # divided by the largest penalty, the one at max_length.
    max_length_penalty = _length_penalty(max_length, alpha)

    def body(s: _SearchState) -> tuple:
        logits, new_decoder_state = step_fn(s.live_last_ids, s.live_decoder_state)
        new_decoder_state = match_state_structure(s.live_decoder_state, new_decoder_state)
        logits = tf.cast(logits, tf.float32)  # [B * K, V]
        # log p = logit - logsumexp(logits): the top-K order is the logits' own order, so the
        # full [B * K, V] log-softmax is never materialised.
        log_normalizer = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)  # [B * K, 1]
        top_logits, top_ids = masked_top_k(logits, k, banned_ids)  # [B * K, K], [B * K, K]
        top_log_probs = tf.reshape(top_logits - log_normalizer, [batch_size, k, k])  # [B, K, K]
        top_ids = tf.reshape(top_ids, [batch_size, k, k])  # [B, K, K]
        candidate_log_probs = s.live_log_probs[:, :, None] + top_log_probs  # [B, K, K]
        is_real = candidate_log_probs > _VALID_THRESHOLD  # [B, K, K]
        is_end = tf.equal(top_ids, end_id)  # [B, K, K]

        # Finished pool: a live hypothesis whose top-K expansions include END finishes (at most
        # one END per parent); merged with the old pool, the best K by score are kept.
        end_log_probs = tf.reduce_max(
            tf.where(is_end & is_real, candidate_log_probs, NEG_INF), axis=-1
        )  # [B, K]
        ends_here = end_log_probs > _VALID_THRESHOLD  # [B, K]
        end_scores = tf.where(
            ends_here, end_log_probs / _length_penalty(s.step + 1, alpha), NEG_INF
        )  # [B, K]
        pool_scores = tf.concat([s.finished_scores, end_scores], axis=1)  # [B, 2K]
        finished_scores, pool_index = tf.math.top_k(pool_scores, k=k)  # [B, K], [B, K]
        pool_token_ids = tf.concat([s.finished_token_ids, s.live_token_ids], axis=1)  # [B, 2K, T]
        pool_log_probs = tf.concat([s.finished_log_probs, end_log_probs], axis=1)  # [B, 2K]
        pool_lengths = tf.concat(
            [s.finished_lengths, tf.fill([batch_size, k], s.step)], axis=1
        )  # [B, 2K]
        pool_flags = tf.concat([s.finished_flags, ends_here], axis=1)  # [B, 2K]
        finished_token_ids = tf.gather(pool_token_ids, pool_index, batch_dims=1)  # [B, K, T]
        finished_log_probs = tf.gather(pool_log_probs, pool_index, batch_dims=1)  # [B, K]
        finished_lengths = tf.gather(pool_lengths, pool_index, batch_dims=1)  # [B, K]
        finished_flags = tf.gather(pool_flags, pool_index, batch_dims=1)  # [B, K]

        # Live set: the best K of the other (non-END) expansions.
        continuing = tf.where(is_end, NEG_INF, candidate_log_probs)  # [B, K, K]
        flat_candidates = tf.reshape(continuing, [batch_size, k * k])  # [B, K*K]
        live_log_probs, flat_index = tf.math.top_k(flat_candidates, k=k)  # [B, K], [B, K]
        parent_beam = flat_index // k  # [B, K]
        new_ids = tf.gather(tf.reshape(top_ids, [batch_size, k * k]), flat_index, batch_dims=1)  # [B, K]
        live_token_ids = tf.gather(s.live_token_ids, parent_beam, batch_dims=1)  # [B, K, T]
        live_token_ids = _write_at(live_token_ids, s.step, new_ids)  # [B, K, T]
        parent_row = tf.reshape(parent_beam + tf.range(batch_size)[:, None] * k, [-1])  # [B * K]
        live_decoder_state = tf.nest.map_structure(
            lambda x: tf.gather(x, parent_row), new_decoder_state
        )  # nested [B * K, ...]

        return (
            _SearchState(
                step=s.step + 1,
                live_last_ids=tf.reshape(new_ids, [-1]),  # [B * K]
                live_decoder_state=live_decoder_state,
                live_token_ids=live_token_ids,
                live_log_probs=live_log_probs,
                finished_token_ids=finished_token_ids,
                finished_scores=finished_scores,
                finished_log_probs=finished_log_probs,
                finished_lengths=finished_lengths,
                finished_flags=finished_flags,
            ),
        )

    def not_done(s: _SearchState):
        best_live_bound = s.live_log_probs[:, 0] / max_length_penalty  # [B]
        example_done = tf.reduce_all(s.finished_flags, axis=1) & (
            best_live_bound <= s.finished_scores[:, -1]
        )  # [B]
        return (s.step < max_length) & ~tf.reduce_all(example_done)

    # At step 0 only beam 0 of each example is live, so the K beams do not start as duplicates.
    first_beam_only = tf.concat([tf.zeros([1]), tf.fill([k - 1], NEG_INF)], axis=0)  # [K]
    initial = _SearchState(
        step=tf.constant(0),
        live_last_ids=tf.fill([batch_size * k], tf.constant(start_id, tf.int32)),  # [B * K]
        live_decoder_state=_tile_beams(initial_state, k),  # nested [B * K, ...]
        live_token_ids=tf.zeros([batch_size, k, max_length], tf.int32),  # [B, K, T]
        live_log_probs=tf.tile(first_beam_only[None, :], [batch_size, 1]),  # [B, K]
        finished_token_ids=tf.zeros([batch_size, k, max_length], tf.int32),  # [B, K, T]
        finished_scores=tf.fill([batch_size, k], NEG_INF),  # [B, K]
        finished_log_probs=tf.fill([batch_size, k], NEG_INF),  # [B, K]
        finished_lengths=tf.zeros([batch_size, k], tf.int32),  # [B, K]
        finished_flags=tf.zeros([batch_size, k], tf.bool),  # [B, K]
    )
    # The batch dim of every loop tensor may be static at entry (a batch of exactly 1) and
    # unknown after one step (it is derived from the dynamic `batch_size`), so declare it unknown.
    invariants = tf.nest.map_structure(_batch_dim_unknown, initial)
    (final,) = tf.while_loop(
        not_done, body, (initial,), shape_invariants=(invariants,), maximum_iterations=max_length
    )
    return _finished_then_live(final, k)


def _finished_then_live(s: _SearchState, k: int) -> BeamOutput:
    """The finished hypotheses best first, then the best live ones in the remaining slots."""
    num_finished = tf.reduce_sum(tf.cast(s.finished_flags, tf.int32), axis=1)  # [B]
    slot = tf.range(k)[None, :]  # [1, K]
    # Slot j takes finished[j] while j < num_finished, else live[j - num_finished] (at K + ...).
    source = tf.where(slot < num_finished[:, None], slot, k + slot - num_finished[:, None])  # [B, K]
    live_lengths = tf.fill(tf.shape(s.live_log_probs), s.step)  # [B, K]
    token_ids = tf.gather(
        tf.concat([s.finished_token_ids, s.live_token_ids], axis=1), source, batch_dims=1
    )  # [B, K, T]
    log_probs = tf.gather(
        tf.concat([s.finished_log_probs, s.live_log_probs], axis=1), source, batch_dims=1
    )  # [B, K]
    lengths = tf.gather(tf.concat([s.finished_lengths, live_lengths], axis=1), source, batch_dims=1)
    # A slot no real hypothesis reached (tiny vocabularies): empty tokens, length 0, -inf.
    real = log_probs > _VALID_THRESHOLD  # [B, K]
    return BeamOutput(
        token_ids=tf.where(real[:, :, None], token_ids, 0),
        log_probs=tf.where(real, log_probs, float("-inf")),
        lengths=tf.where(real, lengths, 0),
    )
