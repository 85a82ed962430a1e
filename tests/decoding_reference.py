"""Slow, obviously-correct pure-Python greedy and beam search, plus toy models for the tests.

A reference decoder sees one example through `next_log_probs(prefix) -> sequence of V floats`:
the model's log-probabilities of the next token after `<start>` + `prefix`. It loops over
hypotheses and tokens one by one, with no batching, padding or masking tricks, and without early
stopping (which must not change the result), so the in-graph decoders can be checked against it.

Semantics shared with `s_cnn_rnn.decoding` (ties: the lower token id / earlier hypothesis wins):
- greedy: the most probable allowed token each step; stop after END.
- beam search (im2txt): each live hypothesis proposes its `beam_width` most probable allowed
  tokens; END proposals enter the finished pool (best `beam_width` by log_prob / length**alpha,
  length counting END), the others compete for the `beam_width` live slots. The result is the
  finished hypotheses best first, then the best live ones.
"""

import math
from typing import Callable, List, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

NextLogProbs = Callable[[List[int]], Sequence[float]]


class Hypothesis(NamedTuple):
    tokens: List[int]  # END not included
    log_prob: float  # END's log-prob included when finished


def _best_first(values: Sequence[float], candidates: Sequence[int]) -> List[int]:
    """candidates sorted by value descending, ties by id ascending."""
    return sorted(candidates, key=lambda v: (-values[v], v))


def greedy_reference(next_log_probs: NextLogProbs, end_id: int, max_length: int,
                     banned_ids=(), no_repeat: bool = True):
    """Returns (tokens incl. END if emitted, length before END, softmax prob of each token)."""
    tokens, probs = [], []
    for _ in range(max_length):
        log_probs = next_log_probs(tokens)
        allowed = [v for v in range(len(log_probs)) if v not in banned_ids
                   and not (no_repeat and v in tokens and v != end_id)]
        best = _best_first(log_probs, allowed)[0]
        tokens.append(best)
        probs.append(math.exp(log_probs[best]))
        if best == end_id:
            return tokens, len(tokens) - 1, probs
    return tokens, len(tokens), probs


def beam_search_reference(next_log_probs: NextLogProbs, end_id: int, beam_width: int,
                          max_length: int, alpha: float = 0.0, banned_ids=()) -> List[Hypothesis]:
    """Returns up to beam_width hypotheses, finished ones (by score) first, then live ones."""
    live = [Hypothesis([], 0.0)]
    finished = []  # (score, Hypothesis), best first
    for step in range(max_length):
        continuations = []
        for parent in live:
            log_probs = next_log_probs(parent.tokens)
            allowed = [v for v in range(len(log_probs)) if v not in banned_ids]
            for token in _best_first(log_probs, allowed)[:beam_width]:
                log_prob = parent.log_prob + log_probs[token]
                if token == end_id:
                    finished.append((log_prob / (step + 1) ** alpha, Hypothesis(parent.tokens, log_prob)))
                else:
                    continuations.append(Hypothesis(parent.tokens + [token], log_prob))
        finished = sorted(finished, key=lambda f: -f[0])[:beam_width]  # stable: older first
        live = sorted(continuations, key=lambda h: -h.log_prob)[:beam_width]
    return ([h for _, h in finished] + live)[:beam_width]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class MarkovToyModel:
    """logits = table[last token] + step_bias[step] + example_bias; state = (step, example_bias).

    Args:
      table: `[V, V]` next-token logits given the last token.
      example_bias: `[B, V]` per-example logit offsets.
      step_bias: `[S, V]` per-step offsets (step clipped to S - 1); zeros if None.
    """

    def __init__(self, table, example_bias, step_bias=None):
        self.table = np.asarray(table, np.float32)
        self.example_bias = np.asarray(example_bias, np.float32)
        vocab_size = self.table.shape[0]
        self.step_bias = (np.zeros([1, vocab_size], np.float32) if step_bias is None
                          else np.asarray(step_bias, np.float32))

    def initial_state(self):
        batch = self.example_bias.shape[0]
        return (tf.zeros([batch], tf.int32), tf.constant(self.example_bias))

    def step_fn(self, token_ids, state):
        step, example_bias = state
        last_step = self.step_bias.shape[0] - 1
        logits = (tf.gather(tf.constant(self.table), token_ids)
                  + tf.gather(tf.constant(self.step_bias), tf.minimum(step, last_step))
                  + example_bias)
        return logits, (step + 1, example_bias)

    def next_log_probs(self, example: int, start_id: int) -> NextLogProbs:
        def fn(prefix):
            last = ([start_id] + prefix)[-1]
            step = min(len(prefix), self.step_bias.shape[0] - 1)
            return log_softmax(self.table[last] + self.step_bias[step] + self.example_bias[example])
        return fn


class TinyRnnToyModel:
    """h' = tanh(embedding[token] + h @ recurrent + bias); logits = h' @ output + output_bias."""

    def __init__(self, vocab_size: int, hidden: int, batch: int, seed: int, end_bias: float = 0.0,
                 end_id: int = 2, scale: float = 2.0):
        rng = np.random.default_rng(seed)
        self.embedding = (rng.normal(size=[vocab_size, hidden]) * scale).astype(np.float32)
        self.recurrent = (rng.normal(size=[hidden, hidden]) * scale / np.sqrt(hidden)).astype(np.float32)
        self.bias = rng.normal(size=[hidden]).astype(np.float32)
        self.output = (rng.normal(size=[hidden, vocab_size]) * scale).astype(np.float32)
        self.output_bias = np.zeros([vocab_size], np.float32)
        self.output_bias[end_id] = end_bias
        self.initial_h = rng.normal(size=[batch, hidden]).astype(np.float32)

    def initial_state(self):
        return tf.constant(self.initial_h)

    def step_fn(self, token_ids, h):
        h = tf.tanh(tf.gather(self.embedding, token_ids) + tf.matmul(h, self.recurrent) + self.bias)
        return tf.matmul(h, self.output) + self.output_bias, h

    def next_log_probs(self, example: int, start_id: int) -> NextLogProbs:
        def fn(prefix):
            h = self.initial_h[example].astype(np.float64)
            for token in [start_id] + prefix:
                h = np.tanh(self.embedding[token] + h @ self.recurrent + self.bias)
            return log_softmax(h @ self.output + self.output_bias)
        return fn
