"""Batched in-graph annotation with a trained model, and its outputs as Python lists.

Shared by `s-cnn-rnn-evaluate`, `s-cnn-rnn-predict` and `s-cnn-rnn-export`: everything
here is pure TF on preprocessed image batches, so the same `Annotator` runs eagerly, in a
tf.function, and inside the exported SavedModel. Restoring the model from its directory is
`trained_model.py`'s (re-exported here: callers write `inference.load_trained_model`).
"""

import tensorflow as tf

from s_cnn_rnn import decode_options
from s_cnn_rnn import decoding
from s_cnn_rnn import record_schema
from s_cnn_rnn import tasks
from s_cnn_rnn.trained_model import TrainedModel
from s_cnn_rnn.trained_model import load_trained_model  # noqa: F401  (re-exported)
from s_cnn_rnn.vocabulary import Vocabularies

TASKS = tasks.NAMES
# Tokens a decoder may never emit (SPEC I1, I2): padding and <start>.
BANNED_IDS = (record_schema.PAD_ID, record_schema.START_ID)


def _greedy(step_fn, initial_state, max_length: int, beam_width: int, length_normalization: float,
            no_repeat: bool) -> dict:
    del beam_width, length_normalization  # greedy (SPEC I1)
    result = decoding.greedy_decode(step_fn, initial_state, record_schema.START_ID, record_schema.END_ID, max_length,
                                    banned_ids=BANNED_IDS, no_repeat=no_repeat)
    return {"token_ids": result.token_ids, "lengths": result.lengths, "token_probs": result.token_probs}


def _beam_search(step_fn, initial_state, max_length: int, beam_width: int, length_normalization: float,
                 no_repeat: bool) -> dict:
    del no_repeat  # a greedy option (captions repeat words)
    result = decoding.beam_search(
        step_fn, initial_state, record_schema.START_ID, record_schema.END_ID, beam_width=beam_width,
        max_length=max_length, length_normalization=length_normalization, banned_ids=BANNED_IDS,
    )
    return {"token_ids": result.token_ids, "lengths": result.lengths, "log_probs": result.log_probs}


# `Task.decoding` -> the decoder.
DECODERS = {"greedy": _greedy, "beam_search": _beam_search}


def decode(task: tasks.Task, step_fn, initial_state, *, max_length: int, beam_width: int,
           length_normalization: float, no_repeat: bool = True) -> dict:
    """Decodes a batch in-graph (pure TF) as the task decodes: `task.decoding`.

    Args:
      task: the model's task.
      step_fn: `(token_ids [N] int32, state) -> (logits [N, V], new_state)`.
      initial_state: the decoder's `[B, ...]` state tensors.
      max_length: most tokens decoded.
      beam_width: beam search's width (ignored by greedy decoding).
      length_normalization: beam search's alpha (ignored by greedy decoding).
      no_repeat: greedy decoding masks the tokens already emitted (D-12; ignored by beam search).

    Returns:
      greedy, by default without repeats (labels, SPEC I1): "token_ids" `[B, T]` (label index + 3, END
      included), "lengths" `[B]`, "token_probs" `[B, T]`; beam search (captions, SPEC I2):
      "token_ids" `[B, beam, T]` (END excluded), "lengths" `[B, beam]`, "log_probs" `[B, beam]`.
    """
    return DECODERS[task.decoding](step_fn, initial_state, max_length, beam_width, length_normalization, no_repeat)


class Annotator(tf.Module):
    """Images -> concept probabilities and decoded labels or captions, batched and in-graph.

    Args:
      trained: the restored model.
      beam_width: captions: beam width (I2: 3).
      max_length: most tokens decoded; default 20 for captions, the number of labels for
        multi-label (a label is never emitted twice).
      length_normalization: captions: alpha of score / length**alpha (0 = off, as the paper).
      top_k: fixed-length outputs (I3): how many of the best concepts to report too.
      label_decoding: multi-label: "no_repeat" (greedy masking the labels already emitted, our
        default) or "plain" (the paper's plain greedy; a label may come again).
    """

    def __init__(self, trained: TrainedModel, beam_width: int = 3, max_length: int | None = None,
                 length_normalization: float = 0.0, top_k: int = 3, label_decoding: str = "no_repeat"):
        super().__init__(name="annotator")
        self.trained = trained
        self.model = trained.model
        self.beam_width = beam_width
        self.max_length = max_length or trained.task_spec.default_max_length(trained.vocabularies)
        self.length_normalization = length_normalization
        self.top_k = min(top_k, trained.config.num_concepts)
        decode_options.check_label_decoding(label_decoding)
        self.no_repeat = label_decoding == "no_repeat"

    def __call__(self, images, tags=None, concepts=None) -> dict:
        """Annotates a batch.

        Args:
          images: float32 `[B, S, S, 3]`, preprocessed for the backbone.
          tags: float32 `[B, num_tags]` multi-hot, required when the model uses tags.
          concepts: float `[B, k]`, e.g. the ground-truth multi-hot: the bridge reads it in place
            of the CNN's concept probabilities (the oracle diagnostic; "concept_probs" and the
            top-k outputs stay the CNN's). Only for models whose bridge reads concepts.

        Returns:
          "concept_probs" `[B, k]` and "top_k_indices"/"top_k_probs" `[B, top_k]` where the
          model has a concept layer; multi-label: "token_ids" `[B, T]` (label index + 3, END
          included), "lengths" `[B]` and "token_probs" `[B, T]`; captions: "token_ids"
          `[B, beam, T]` (END excluded), "lengths" `[B, beam]`, "log_probs" `[B, beam]`.

        Raises:
          errors.OptionError: `concepts` given to a model whose bridge does not read concepts.
        """
        config = self.model.config
        if concepts is not None:  # refused at trace time, before any work
            decode_options.check_concept_source("ground_truth", config.variant)
        cnn = self.model.unary(images, tags if config.use_tags else None, training=False)
        outputs = {}
        if "concept_probs" in cnn and cnn["concept_probs"] is not None:
            outputs["concept_probs"] = cnn["concept_probs"]
            top = tf.math.top_k(cnn["concept_probs"], k=self.top_k)
            outputs["top_k_indices"], outputs["top_k_probs"] = top.indices, top.values
        if not config.has_decoder:
            return outputs
        embedding = self.model.select_embedding(cnn)
        if concepts is not None:
            embedding = tf.ensure_shape(tf.cast(concepts, embedding.dtype), embedding.shape)
        initial_state = tuple(self.model.decoder_initial_state(embedding, training=False))
        # As the task decodes: greedy, by default without repeats (labels), or beam search (captions).
        outputs.update(decode(
            self.trained.task_spec, self.model.step, initial_state, max_length=self.max_length,
            beam_width=self.beam_width, length_normalization=self.length_normalization, no_repeat=self.no_repeat,
        ))
        return outputs


def label_lists(outputs: dict, vocabularies: Vocabularies) -> list[list[tuple[str, float]]]:
    """Decoded multi-label outputs (NumPy) -> per image [(label, probability), ...] in emitted order."""
    offset = len(record_schema.LABEL_SPECIALS)
    results = []
    for ids, length, probs in zip(outputs["token_ids"], outputs["lengths"], outputs["token_probs"]):
        results.append(
            [(vocabularies.labels.token_of(int(t) - offset), float(p)) for t, p in zip(ids[:length], probs[:length])]
        )
    return results


def caption_lists(outputs: dict, vocabularies: Vocabularies) -> list[list[tuple[str, float]]]:
    """Decoded beams (NumPy) -> per image [(caption, log_prob), ...] best first (empty beams dropped)."""
    results = []
    for beams, lengths, log_probs in zip(outputs["token_ids"], outputs["lengths"], outputs["log_probs"]):
        captions = []
        for ids, length, log_prob in zip(beams, lengths, log_probs):
            if length > 0 or log_prob > -1e30:
                words = vocabularies.words.decode([int(t) for t in ids[:length]])
                captions.append((" ".join(words), float(log_prob)))
        results.append(captions)
    return results
