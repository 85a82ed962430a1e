"""Batched, in-graph greedy decoding (SPEC I1: the multi-label decoder stops at END).

The model is seen only through a step function (BUILD_NOTES "Decoder -> decoding"):

    step_fn(token_ids [N] int32, state) -> (logits [N, V], new_state)

where `state` is any nested structure of `[N, ...]` tensors. Everything is a `tf.while_loop`
over fixed-shape tensors, so the same code runs eagerly, inside `tf.function`, under XLA
(`jit_compile=True`) and inside an exported SavedModel.
"""

from typing import NamedTuple, Sequence

import tensorflow as tf

from s_cnn_rnn.decoding.step_contract import (
    NEG_INF,
    StepFn,
    banned_token_mask,
    check_decoding_args,
    leading_batch_size,
    match_state_structure,
)


class GreedyOutput(NamedTuple):
    """Greedy decoding result.

    Attributes:
      token_ids: int32 `[batch, max_length]`: the emitted tokens; END itself is written at
        position `lengths[b]` when the example ended, then 0 (`<pad>`) after it.
      lengths: int32 `[batch]`: number of tokens before END (`max_length` if END never came).
      token_probs: float32 `[batch, max_length]`: the model's softmax probability of each
        emitted token (END included), from the unmasked distribution; 0 after END.
    """

    token_ids: tf.Tensor
    lengths: tf.Tensor
    token_probs: tf.Tensor


def greedy_decode(
    step_fn: StepFn,
    initial_state,
    start_id: int,
    end_id: int,
    max_length: int,
    banned_ids: Sequence[int] = (),
    no_repeat: bool = True,
) -> GreedyOutput:
    """Decodes the most probable token at every step until END, for a whole batch at once.

    Args:
      step_fn: `(token_ids [N] int32, state) -> (logits [N, V], new_state)`.
      initial_state: nested structure of `[batch, ...]` tensors; the batch size comes from it.
      start_id: token fed at the first step.
      end_id: stop token; a row stops at its first END and emits nothing afterwards.
      max_length: static maximum number of emitted tokens (END included).
      banned_ids: tokens never emitted (e.g. `<pad>`, `<start>`).
      no_repeat: mask every token the row already emitted (labels form a set). END is never
        masked.

    Returns:
      A `GreedyOutput`.
    """
    check_decoding_args(end_id, max_length, banned_ids)
    batch_size = leading_batch_size(initial_state)
    positions = tf.range(max_length)  # [T]
    batch_index = tf.range(batch_size)  # [B]

    def allowed_logits(logits, token_ids, t):
        """logits [B, V] with banned and (optionally) already-emitted tokens at NEG_INF."""
        if banned_ids:
            banned = banned_token_mask(banned_ids, tf.shape(logits)[-1])  # [V]
            logits = tf.where(banned[None, :], NEG_INF, logits)  # [B, V]
        if no_repeat:
            # Scatter-min: emitted tokens get NEG_INF, unwritten positions (and END) +big = no-op.
            emitted = (positions[None, :] < t) & (token_ids != end_id)  # [B, T]
            updates = tf.where(emitted, NEG_INF, -NEG_INF)  # [B, T]
            rows = tf.broadcast_to(batch_index[:, None], tf.shape(token_ids))  # [B, T]
            indices = tf.stack([rows, token_ids], axis=-1)  # [B, T, 2]
            logits = tf.tensor_scatter_nd_min(logits, indices, updates)  # [B, V]
        return logits

    def body(t, prev_tokens, state, finished, token_ids, token_probs, lengths):
        logits, new_state = step_fn(prev_tokens, state)
        new_state = match_state_structure(state, new_state)
        logits = tf.cast(logits, tf.float32)  # [B, V]
        tokens = tf.argmax(allowed_logits(logits, token_ids, t), axis=-1, output_type=tf.int32)  # [B]
        probs = tf.gather(tf.nn.softmax(logits), tokens, batch_dims=1)  # [B]
        write = (positions[None, :] == t) & ~finished[:, None]  # [B, T]
        token_ids = tf.where(write, tokens[:, None], token_ids)  # [B, T]
        token_probs = tf.where(write, probs[:, None], token_probs)  # [B, T]
        is_end = tf.equal(tokens, end_id)  # [B]
        lengths += tf.cast(~finished & ~is_end, tf.int32)  # [B]
        finished |= is_end
        return t + 1, tokens, new_state, finished, token_ids, token_probs, lengths

    def not_done(t, prev_tokens, state, finished, *unused):
        return (t < max_length) & ~tf.reduce_all(finished)

    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size], tf.constant(start_id, tf.int32)),  # [B]
        initial_state,
        tf.zeros([batch_size], tf.bool),  # [B]
        tf.zeros([batch_size, max_length], tf.int32),  # [B, T]
        tf.zeros([batch_size, max_length], tf.float32),  # [B, T]
        tf.zeros([batch_size], tf.int32),  # [B]
    )
    _, _, _, _, token_ids, token_probs, lengths = tf.while_loop(
        not_done, body, loop_vars, maximum_iterations=max_length
    )
    return GreedyOutput(token_ids=token_ids, lengths=lengths, token_probs=token_probs)
