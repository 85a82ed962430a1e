"""Batched, in-graph greedy decoding (SPEC I1: the multi-label decoder stops at END).

The model is seen only through a step function (BUILD_NOTES "Decoder -> decoding"):

    step_fn(token_ids [N] int32, state) -> (logits [N, V], new_state)

where `state` is any nested structure of `[N, ...]` tensors. Everything is a `tf.while_loop`
over fixed-shape tensors, so the same code runs eagerly, inside `tf.function`, under XLA
(`jit_compile=True`) and inside an exported SavedModel.
"""

from typing import Callable, NamedTuple, Sequence

import tensorflow as tf

# Added to the logits of a forbidden token. Finite (not -inf) so that sums of masked scores
# never turn into NaN (-inf - -inf) in beam search; far below any real float32 logit.
NEG_INF = -1.0e9

StepFn = Callable[[tf.Tensor, object], tuple]


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


def leading_batch_size(state) -> tf.Tensor:
    """The batch size `N` shared by every `[N, ...]` tensor of a nested decoder state."""
    leaves = tf.nest.flatten(state)
    if not leaves:
        raise ValueError("the decoder state is empty: pass at least one [batch, ...] tensor")
    return tf.shape(leaves[0])[0]


def banned_token_mask(banned_ids: Sequence[int], vocab_size) -> tf.Tensor:
    """bool `[vocab_size]`: True at every id in `banned_ids`."""
    banned = tf.constant(list(banned_ids), tf.int32)  # [num_banned]
    return tf.reduce_any(
        tf.equal(tf.range(vocab_size)[:, None], banned[None, :]), axis=1
    )  # [V]


def check_decoding_args(end_id: int, max_length: int, banned_ids: Sequence[int]) -> None:
    """Raises ValueError for settings that cannot decode anything."""
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a Python int >= 1 (static), got {max_length!r}")
    if end_id in set(banned_ids):
        raise ValueError(f"end_id={end_id} is in banned_ids={tuple(banned_ids)}: decoding could never stop")


def match_state_structure(template, new_state):
    """`new_state` repacked like `template` (e.g. a Keras cell's list -> the caller's tuple)."""
    return tf.nest.pack_sequence_as(template, tf.nest.flatten(new_state))


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
