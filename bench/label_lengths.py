r"""Why a multi-label S-CNN-RNN's precision sits above or below its recall: sequence lengths, END and
the no-repeat rule of greedy decoding, measured on a trained model.

The paper (Sec. 4.1) explains its precision > recall by length: a CNN-RNN "tends to make less
predictions" than the 2.4 ground-truth labels of a NUS-WIDE image. This bench decodes a split twice,
with the project's greedy decoding (labels already emitted are masked) and with the paper's plain
greedy (argmax at every step), and reports for each: labels per image (truth and predicted), how
often END stops the sequence, per-class and overall precision/recall, precision at each output
position, and the predicted-minus-true length. It also prints the label counts of the real datasets
(../shared/data, when present) beside the split's.

  python bench/label_lengths.py --model_dir=M --data_dir=D [--split=test] [--checkpoint=best]

Ends with one JSON line.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from s_cnn_rnn import decoding, input_pipeline, record_schema, trained_model
from s_cnn_rnn.evaluation import decode_split
from s_cnn_rnn.metrics import multilabel

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A trained multi-label model dir (s-cnn-rnn-train --task=multilabel).")
flags.DEFINE_string("data_dir", None, "Its converted data.")
flags.DEFINE_string("split", "test", "The split to decode.")
flags.DEFINE_string("checkpoint", "best", "best, latest or a step (as s-cnn-rnn-evaluate).")
flags.DEFINE_integer("batch_size", 100, "Images per decoding call.")

SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
REAL_LABEL_FILES = {"NUS-WIDE 81 (train)": "nuswide/nuswide81_train.npz",
                    "COCO 80 (2014)": "coco_multilabel/coco2014_multilabel80.npz"}


def _decode(trained, data_dir: str, split: str, batch_size: int) -> dict:
    """{"truth" [N, k], "masked"/"plain": {"token_ids" [N, T], "lengths" [N]}} over the whole split."""
    config = decode_split.pipeline_config(trained, batch_size)
    model = trained.model
    num_labels = trained.config.num_concepts

    @tf.function
    def decode_batch(images, tags):
        cnn = model.unary(images, tags if trained.config.use_tags else None, training=False)
        state = tuple(model.decoder_initial_state(model.select_embedding(cnn), training=False))
        outputs = {}
        for name, no_repeat in (("masked", True), ("plain", False)):
            # Plain greedy may repeat a label: give it room for the whole label set plus END.
            result = decoding.greedy_decode(model.step, state, record_schema.START_ID, record_schema.END_ID,
                                            num_labels + 1, banned_ids=(record_schema.PAD_ID, record_schema.START_ID),
                                            no_repeat=no_repeat)
            outputs[name] = {"token_ids": result.token_ids, "lengths": result.lengths}
        return outputs

    chunks = {"truth": [], "masked": {"token_ids": [], "lengths": []}, "plain": {"token_ids": [], "lengths": []}}
    for batch in input_pipeline.make_dataset(data_dir, split, config):
        outputs = decode_batch(batch["image"], batch["tags"])
        chunks["truth"].append(batch["concepts"].numpy())
        for name in ("masked", "plain"):
            for key in ("token_ids", "lengths"):
                chunks[name][key].append(outputs[name][key].numpy())
    return {"truth": np.concatenate(chunks["truth"]) > 0,
            **{name: {key: np.concatenate(chunks[name][key]) for key in ("token_ids", "lengths")}
               for name in ("masked", "plain")}}


def describe(truth: np.ndarray, token_ids: np.ndarray, lengths: np.ndarray) -> dict:
    """The length and precision/recall facts of one decoding.

    Args:
      truth: bool `[N, k]` ground truth.
      token_ids: int `[N, T]` emitted tokens (label index + 3; END at `lengths`).
      lengths: int `[N]` tokens before END (T when END never came).

    Returns:
      Plain numbers (x100 for the metrics): truth/predicted/distinct labels per image, END rate,
      repeats, C-P/C-R/O-P/O-R/O-F1, precision at output positions 1-6, and the distribution of
      predicted minus true length.
    """
    offset = len(record_schema.LABEL_SPECIALS)
    num_images, num_labels = truth.shape
    predicted = multilabel.sequences_to_multi_hot(token_ids, num_labels, offset=offset,
                                                  end_id=record_schema.END_ID).astype(bool)
    metrics = multilabel.multilabel_metrics(truth, predicted)
    position_hits = {}
    for position in range(6):
        emitted = lengths > position
        labels = token_ids[emitted, position] - offset
        hits = truth[np.flatnonzero(emitted), labels]
        position_hits[str(position + 1)] = (round(100 * float(hits.mean()), 1) if hits.size else None, int(emitted.sum()))
    true_counts = truth.sum(axis=1)
    distinct = predicted.sum(axis=1)
    gap = distinct - true_counts
    return {
        "images": num_images,
        "truth_labels_per_image": round(float(true_counts.mean()), 2),
        "emitted_labels_per_image": round(float(lengths.mean()), 2),
        "distinct_labels_per_image": round(float(distinct.mean()), 2),
        "repeated_labels_per_image": round(float((lengths - distinct).mean()), 2),
        "end_reached": round(float((lengths < token_ids.shape[1]).mean()), 3),
        **{key: round(100 * float(metrics[key]), 2) for key in ("C-P", "C-R", "O-P", "O-R", "O-F1")},
        "precision_at_position": position_hits,
        "predicted_minus_true": {"fewer": round(float((gap < 0).mean()), 3), "same": round(float((gap == 0).mean()), 3),
                                 "more": round(float((gap > 0).mean()), 3), "mean": round(float(gap.mean()), 2)},
    }


def real_label_counts() -> dict:
    """Mean labels per labelled image of the real datasets' label matrices ({} where ../shared is absent)."""
    counts = {}
    for name, relative in REAL_LABEL_FILES.items():
        path = os.path.join(SHARED_DATA, relative)
        if os.path.isfile(path):
            per_image = np.load(path)["labels"].sum(axis=1)
            counts[name] = round(float(per_image[per_image > 0].mean()), 2)
    return counts


def main(argv) -> int:
    del argv
    trained = trained_model.load_trained_model(FLAGS.model_dir, checkpoint=FLAGS.checkpoint)
    if trained.task != "multilabel" or not trained.config.has_decoder:
        print(f"label_lengths: {FLAGS.model_dir} is not a multi-label model with a decoder", file=sys.stderr)
        return 2
    decoded = _decode(trained, FLAGS.data_dir, FLAGS.split, FLAGS.batch_size)
    report = {"model_dir": FLAGS.model_dir, "split": FLAGS.split, "real_labels_per_image": real_label_counts()}
    for name in ("masked", "plain"):
        report[name] = describe(decoded["truth"], decoded[name]["token_ids"], decoded[name]["lengths"])
    for name in ("masked", "plain"):
        facts = report[name]
        print(f"{name:>6}: truth {facts['truth_labels_per_image']} labels/image, emitted {facts['emitted_labels_per_image']} "
              f"({facts['distinct_labels_per_image']} distinct), END reached {facts['end_reached']:.1%}; "
              f"C-P {facts['C-P']} C-R {facts['C-R']} O-P {facts['O-P']} O-R {facts['O-R']} O-F1 {facts['O-F1']}; "
              f"precision by position {facts['precision_at_position']}; predicted-true {facts['predicted_minus_true']}")
    print(f"real datasets, labels per labelled image: {report['real_labels_per_image']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir", "data_dir"])
    app.run(main)
