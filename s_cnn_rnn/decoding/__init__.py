"""Model-agnostic, batched, in-graph decoding: greedy (labels, SPEC I1) and beam search
(captions, SPEC I2).

Both take `step_fn(token_ids [N] int32, state) -> (logits [N, V], new_state)` with `state` a
nested structure of `[N, ...]` tensors (for an LSTM: `(h, c)`), and run eagerly, inside
`tf.function`, under XLA and in an exported SavedModel.
"""

from s_cnn_rnn.decoding.beam_search import BeamOutput, beam_search
from s_cnn_rnn.decoding.greedy import GreedyOutput, greedy_decode

__all__ = ["BeamOutput", "GreedyOutput", "beam_search", "greedy_decode"]
