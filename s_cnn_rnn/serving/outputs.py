"""`Annotator` outputs (token ids) -> strings and scores, in-graph, with the vocabularies inside.

The exported SavedModel must run without this project, so the id -> token tables are string
constants in the graph. Decoding mirrors `inference.label_lists` / `inference.caption_lists`
(the Python decoders evaluation uses), but keeps fixed shapes: "" pads missing labels and
empty beams.
"""

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from s_cnn_rnn import record_schema
from s_cnn_rnn.inference import TrainedModel

# Output name -> (dtype, shape, meaning), for the signature documentation.
OUTPUT_DOCS = {
    "labels": ("string", "[B, T]", "predicted labels in emitted order (rare-first), '' after the last"),
    "label_scores": ("float32", "[B, T]", "the decoder's probability of each emitted label; 0 after the last"),
    "num_labels": ("int32", "[B]", "how many labels each image got"),
    "captions": ("string", "[B, beam]", "captions best first, words joined by spaces ('' for an empty beam)"),
    "log_probs": ("float32", "[B, beam]", "each caption's log-probability (END included); -inf for an empty beam"),
    "concept_probs": ("float32", "[B, k]", "sigmoid probability of each concept (concepts.txt or labels.txt order)"),
    "top_concepts": ("string", "[B, top_k]", "the top_k most probable concepts"),
    "top_concept_probs": ("float32", "[B, top_k]", "their probabilities"),
}


def concept_vocabulary(trained: TrainedModel) -> list[str]:
    """The tokens of the concept layer: caption concepts, or the labels for multi-label."""
    return trained.task_spec.concept_tokens(trained.vocabularies)


def output_names(trained: TrainedModel) -> list[str]:
    """The outputs `string_outputs` gives for this model, in `OUTPUT_DOCS` order."""
    names = list(TASK_OUTPUTS[trained.task].names(trained.config.has_decoder))
    if trained.config.has_concept_loss:
        names += ["concept_probs", "top_concepts", "top_concept_probs"]
    return names


def _before_length(token_ids, lengths) -> tf.Tensor:
    """bool `[..., T]`: position < length (lengths `[...]`)."""
    positions = tf.range(tf.shape(token_ids)[-1])  # [T]
    return positions < tf.expand_dims(lengths, -1)


def label_strings(raw: dict, label_tokens: list[str]) -> dict:
    """Greedy label sequences `[B, T]` (label index + 3, END at lengths[b]) -> strings."""
    table = tf.constant([""] * len(record_schema.LABEL_SPECIALS) + label_tokens)  # [num_labels + 3]
    token_ids, lengths = raw["token_ids"], tf.cast(raw["lengths"], tf.int32)
    emitted = _before_length(token_ids, lengths)  # [B, T]
    return {
        "labels": tf.where(emitted, tf.gather(table, token_ids), ""),
        "label_scores": tf.where(emitted, tf.cast(raw["token_probs"], tf.float32), 0.0),
        "num_labels": lengths,
    }


def top_k_label_strings(raw: dict, label_tokens: list[str]) -> dict:
    """Fixed-length model (cnn_logistic, SPEC I3): its top_k labels, most probable first."""
    table = tf.constant(label_tokens)
    indices = raw["top_k_indices"]  # [B, top_k]
    return {
        "labels": tf.gather(table, indices),
        "label_scores": tf.cast(raw["top_k_probs"], tf.float32),
        "num_labels": tf.fill([tf.shape(indices)[0]], tf.shape(indices)[1]),
    }


def caption_strings(raw: dict, word_tokens: list[str]) -> dict:
    """Beams `[B, beam, T]` (END excluded) -> space-joined captions `[B, beam]`."""
    table = tf.constant(word_tokens)  # [V]
    token_ids, lengths = raw["token_ids"], tf.cast(raw["lengths"], tf.int32)
    # As Vocabulary.decode: the tokens before the length, control tokens dropped (<unk> kept).
    control_ids = tf.constant(list(range(len(record_schema.LABEL_SPECIALS))), tf.int32)  # <pad> <start> <end>
    is_control = tf.reduce_any(tf.equal(token_ids[..., None], control_ids), axis=-1)  # [B, beam, T]
    keep = _before_length(token_ids, lengths) & ~is_control
    # Flattened to [B * beam, T] so the join gives a dense tensor (a signature cannot return a ragged one).
    words = tf.gather(table, token_ids)  # [B, beam, T]
    flat_shape = tf.stack([-1, tf.shape(token_ids)[-1]])
    kept_words = tf.ragged.boolean_mask(tf.reshape(words, flat_shape), tf.reshape(keep, flat_shape))  # [B * beam, (n)]
    captions = tf.strings.reduce_join(kept_words, axis=-1, separator=" ")  # [B * beam]
    return {
        "captions": tf.reshape(captions, [-1, token_ids.shape[1]]),  # [B, beam]; beam is static
        "log_probs": tf.cast(raw["log_probs"], tf.float32),
    }


def _caption_outputs(raw: dict, trained: TrainedModel) -> dict:
    return caption_strings(raw, trained.vocabularies.words.tokens) if trained.config.has_decoder else {}


def _label_outputs(raw: dict, trained: TrainedModel) -> dict:
    # A model without decoder reports its top_k labels under the same names (SPEC I3).
    tokens = trained.vocabularies.labels.tokens
    return label_strings(raw, tokens) if trained.config.has_decoder else top_k_label_strings(raw, tokens)


@dataclasses.dataclass(frozen=True)
class TaskOutputs:
    """A task's serving outputs besides the concept layer's.

    Attributes:
      names: has_decoder -> the output names (`OUTPUT_DOCS` keys).
      strings: (Annotator outputs, trained model) -> those outputs, in-graph.
    """

    names: Callable[[bool], tuple[str, ...]]
    strings: Callable[[dict, TrainedModel], dict]


# Task name -> its outputs.
TASK_OUTPUTS = {
    "caption": TaskOutputs(lambda has_decoder: ("captions", "log_probs") if has_decoder else (), _caption_outputs),
    "multilabel": TaskOutputs(lambda has_decoder: ("labels", "label_scores", "num_labels"), _label_outputs),
}


def _concepts(raw: dict, concept_tokens: list[str]) -> dict:
    return {
        "concept_probs": tf.cast(raw["concept_probs"], tf.float32),
        "top_concepts": tf.gather(tf.constant(concept_tokens), raw["top_k_indices"]),
        "top_concept_probs": tf.cast(raw["top_k_probs"], tf.float32),
    }


def string_outputs(raw: dict, trained: TrainedModel) -> dict:
    """Maps an `Annotator`'s outputs to the serving outputs (`OUTPUT_DOCS`).

    Args:
      raw: what `Annotator.__call__` returned for a batch of B images.
      trained: the model it ran (task, config, vocabularies).

    Returns:
      multi-label: "labels" string `[B, T]`, "label_scores" float32 `[B, T]`, "num_labels"
      int32 `[B]` (a model without decoder reports its top_k labels); captions: "captions"
      string `[B, beam]`, "log_probs" float32 `[B, beam]`; with a concept layer also
      "concept_probs" `[B, k]`, "top_concepts" / "top_concept_probs" `[B, top_k]`.
    """
    outputs = TASK_OUTPUTS[trained.task].strings(raw, trained)  # the task's labels or captions
    if "concept_probs" in raw:
        outputs.update(_concepts(raw, concept_vocabulary(trained)))
    return outputs
