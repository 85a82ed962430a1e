r"""`s-cnn-rnn-evaluate`: the paper's metrics of a trained model on a split of converted data.

Example:
  s-cnn-rnn-evaluate --model_dir=/tmp/model --data_dir=/tmp/s_cnn_rnn_data --split=test \
      --report=/tmp/model/eval_test/report.html

Prints the table (multi-label: C-R C-P C-F1 O-R O-P O-F1 x100, as Tables 1-2; captions:
B-1..B-4 METEOR ROUGE-L CIDEr, as Tables 3-4) on stdout and writes, under --output_dir
(default MODEL_DIR/eval_<split>): metrics.json, predictions.jsonl and, for captions,
captions_results.json in COCO results format. --report also writes an HTML page of
--report_images images with ground truth beside the predictions, and a PNG grid of them.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from s_cnn_rnn.training import model_store  # no TensorFlow

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "A trained model dir (model_config.json, vocab/, checkpoints).")
flags.DEFINE_string("data_dir", None, "Converted data with the model's vocabularies.")
flags.DEFINE_string("split", "test", "The split to evaluate.")
flags.DEFINE_string("output_dir", None, "Where metrics.json and the predictions go (default MODEL_DIR/eval_<split>).")
flags.DEFINE_integer("batch_size", 32, "Images per decoding batch.")
flags.DEFINE_integer("beam_width", 3, "Captions: beam width (SPEC I2: 3).")
flags.DEFINE_integer("max_images", None, "Evaluate only the first this many images of the split.")
flags.DEFINE_string("report", None, "Also write an HTML page of images with ground truth and predictions "
                    "here (and a PNG grid beside it, same name with .png).")
flags.DEFINE_integer("report_images", 12, "Images in the --report page.")
flags.DEFINE_enum("convention", "pooled", ["pooled", "per_image"],
                  "Multi-label O-P/O-R: counts pooled over images (default) or per-image averages; both are "
                  "written, this one is named first.")
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")
flags.DEFINE_string("checkpoint", "best", model_store.CHECKPOINT_HELP)


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:  # a folder without a model fails before TensorFlow is imported (seconds)
        model_store.load_config(FLAGS.model_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Imported here so that --help and the check above do not wait for TensorFlow.
    from s_cnn_rnn.evaluation import report  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.evaluation import runner  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"eval_{FLAGS.split}")
    try:
        result = runner.evaluate(
            FLAGS.model_dir, FLAGS.data_dir, split=FLAGS.split, batch_size=FLAGS.batch_size,
            beam_width=FLAGS.beam_width, max_images=FLAGS.max_images, show_progress=FLAGS.progress,
            convention=FLAGS.convention, checkpoint=FLAGS.checkpoint,
        )
    except (FileNotFoundError, ValueError, caption_scores.CaptionDataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, reason in result.summary.get("notes", {}).items():
        logging.warning("%s: %s", name, reason)
    outputs = runner.write_outputs(result, output_dir)
    for name, path in outputs.items():
        logging.info("wrote %s: %s", name, path)
    if FLAGS.report:
        for name, path in report.write_report(result, FLAGS.data_dir, FLAGS.report, FLAGS.report_images,
                                              predictions_path=outputs["predictions"]).items():
            logging.info("wrote the report %s: %s", name, path)
    logging.info("evaluated %d images in %.1f s", result.summary["num_images"], result.summary["seconds"]["total"])
    print(result.table)
    return 0


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-evaluate`)."""
    flags.mark_flags_as_required(["model_dir", "data_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
