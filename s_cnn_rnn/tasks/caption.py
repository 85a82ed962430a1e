"""Captioning (SPEC I2, E2): concepts from caption words, captions decoded by beam search."""

import types

from s_cnn_rnn import record_schema
from s_cnn_rnn.tasks import base

# Decoded validation scores captions without Java, with the scorer's Python PTB tokenizer: its
# history keys carry this suffix (training/decoded_validation.py).
PYTHON_TOKENIZER_SUFFIX = "_pytok"
# SPEC I2: at most 20 words per caption.
MAX_CAPTION_LENGTH = 20

CAPTION = base.Task(
    name="caption",
    concepts_key="num_concepts",
    vocab_size_key="vocab_size",
    concept_vocab_file=record_schema.CONCEPTS_FILE,
    concept_vocabulary="concepts",
    concepts_noun="concepts",
    targets="captions",
    targets_noun="captions",
    decoding="beam_search",
    max_length=MAX_CAPTION_LENGTH,
    best_metrics=types.MappingProxyType({"joint": "val_CIDEr" + PYTHON_TOKENIZER_SUFFIX}),
    validation_needs_references=True,
    has_conventions=False,
)
