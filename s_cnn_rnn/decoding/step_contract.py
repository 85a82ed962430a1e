"""What greedy decoding and beam search share: the step-function contract and banned tokens.

Both decoders see the model only through

    step_fn(token_ids [N] int32, state) -> (logits [N, V], new_state)

with `state` a nested structure of `[N, ...]` tensors. This module holds the type of that
function (`StepFn`), the helpers over its nested state (`leading_batch_size`,
`match_state_structure`), the argument checks (`check_decoding_args`) and the masking of
forbidden tokens (`NEG_INF`, `banned_token_mask`).
"""

from typing import Callable, Sequence

import tensorflow as tf

# Added to the logits of a forbidden token. Finite (not -inf) so that sums of masked scores
# never turn into NaN (-inf - -inf) in beam search; far below any real float32 logit.
NEG_INF = -1.0e9

StepFn = Callable[[tf.Tensor, object], tuple]


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
