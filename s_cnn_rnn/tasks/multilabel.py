"""Multi-label annotation (SPEC I1, E1): concepts are the labels, decoded greedily rare-first."""

import types

from s_cnn_rnn import record_schema
from s_cnn_rnn.tasks import base

MULTILABEL = base.Task(
    name="multilabel",
    concepts_key="num_labels",
    vocab_size_key="num_label_tokens",
    concept_vocab_file=record_schema.LABELS_FILE,
    concept_vocabulary="labels",
    concepts_noun="labels",
    targets="labels",
    targets_noun="labels",
    decoding="greedy",
    max_length=None,  # a label is never emitted twice: no sequence is longer than the label set
    best_metrics=types.MappingProxyType({"cnn": "val_concept_O-F1", "joint": "val_O-F1"}),
    validation_needs_references=False,
    has_conventions=True,
)
