"""Training FLOPs per step of each stage of a trained model dir (run by `bench/paper_scale.py`).

  python bench/paper_scale_flops.py MODEL_DIR BATCH SEQUENCE_LENGTH

The CNN's forward FLOPs (backbone, concept layer and tag MLP, one image) are counted by
TensorFlow's profiler on the model's own unary graph; the decoder's are counted from its sizes
(its LSTM runs in a while loop the profiler does not enter): per token 2 x 4H(E + H) for the LSTM
and 2HV for the word logits, plus the bridge 2DH once per sequence. A trained part costs 3x its
forward pass per step (forward, then gradients of activations and of weights); a frozen part
(the head-only phase's backbone, the decoder stage's CNN) its forward pass. SEQUENCE_LENGTH is
the teacher-forced length (an upper bound: batches are trimmed to their longest sequence).
Prints one JSON line: {"forward": {...}, "train_step": {stage or "cnn_head": FLOPs}}.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

from s_cnn_rnn import trained_model  # noqa: E402
from s_cnn_rnn.models import backbone_specs  # noqa: E402


def cnn_forward_flops(model, config) -> int:
    """Profiler-counted FLOPs of the unary graph (backbone + concept layer + tag MLP), one image."""
    size = config.resolved_image_size
    specs = [tf.TensorSpec([1, size, size, 3], tf.float32)]
    if config.use_tags:
        specs.append(tf.TensorSpec([1, config.num_tags], tf.float32))
        function = tf.function(lambda images, tags: model.unary(images, tags, training=False))
    else:
        function = tf.function(lambda images: model.unary(images, None, training=False))
    graph = function.get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def decoder_forward_flops(config, sequence_length: int) -> int:
    """Decoder FLOPs of one teacher-forced sequence of `sequence_length` tokens."""
    if not config.has_decoder:
        return 0
    hidden, embedding, vocab = config.lstm_units, config.embedding_dim, config.vocab_size
    per_token = 2 * 4 * hidden * (embedding + hidden) + 2 * hidden * vocab
    bridge_width = config.num_concepts if config.bridge_input == "concepts" else backbone_specs.get(
        config.backbone).feature_width
    return sequence_length * per_token + 2 * bridge_width * hidden


def main(argv: list[str]) -> int:
    model_dir, batch, length = argv[1], int(argv[2]), int(argv[3])
    model, config, _ = trained_model.build_model(model_dir)
    cnn = cnn_forward_flops(model, config)
    tag_mlp = 0
    if config.use_tags:
        tag_mlp = 2 * sum(int(tf.size(v)) for v in model.concept_cnn.tag_mlp.trainable_variables if len(v.shape) == 2)
    decoder = decoder_forward_flops(config, length)
    steps = {"cnn_head": batch * cnn, "cnn": 3 * batch * cnn, "rnn": 3 * batch * decoder, "tags": 3 * batch * tag_mlp,
             "decoder": batch * cnn + 3 * batch * decoder, "joint": 3 * batch * (cnn + decoder)}
    print(json.dumps({"forward": {"cnn_per_image": cnn, "decoder_per_sequence": decoder, "tag_mlp_per_image": tag_mlp,
                                  "sequence_length": length, "image_size": config.resolved_image_size,
                                  "backbone": config.backbone},
                      "train_step": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
