r"""`s-cnn-rnn-evaluate`: the paper's metrics of a trained model on a split of converted data.

Example:
  s-cnn-rnn-evaluate --model_dir=/tmp/model --data_dir=/tmp/s_cnn_rnn_data --split=test \
      --report=/tmp/model/eval_test/report.html

Prints the table (multi-label: C-R C-P C-F1 O-R O-P O-F1 x100, as Tables 1-2; captions:
B-1..B-4 METEOR ROUGE-L CIDEr, as Tables 3-4) on stdout and writes, under --output_dir
(default MODEL_DIR/eval_<split>; with --max_images=N its subfolder max_images-N, with
--concepts=ground_truth its subfolder ground_truth_concepts, so a partial or oracle run never
replaces the full split's files): metrics.json, predictions.jsonl and, for captions,
captions_results.json in COCO results format. The output dir is checked writable before any work. --report also writes an HTML page of
--report_images images with ground truth beside the predictions, and a PNG grid of them.
"""

import os

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)  # before TensorFlow is imported

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from s_cnn_rnn import decode_options  # noqa: E402  (no TensorFlow)
from s_cnn_rnn import option_flags  # noqa: E402  (no TensorFlow)
from s_cnn_rnn import model_dir as model_dir_lib  # noqa: E402  (no TensorFlow)
from s_cnn_rnn.models import config as model_config  # noqa: E402  (plain data, no TensorFlow)

FLAGS = flags.FLAGS
COMMAND = "s-cnn-rnn-evaluate"

command_line.define_path("model_dir", None, "A trained model dir (model_config.json, vocab/, checkpoints).")
command_line.define_path("data_dir", None, "Converted data with the model's vocabularies.")
flags.DEFINE_string("split", "test", "The split to evaluate.")
command_line.define_path("output_dir", None,
                         "Where metrics.json and the predictions go (default MODEL_DIR/eval_<split>).")
_DECODE = option_flags.define(decode_options.DecodeOptions, fields=("batch_size", "beam_width", "checkpoint",
                                                                           "concepts"))
flags.DEFINE_integer("max_images", None, "Evaluate only the first this many images of the split.")
command_line.define_path("report", None, "Also write an HTML page of images with ground truth and predictions "
                         "here (and a PNG grid beside it, same name with .png).")
flags.DEFINE_integer("report_images", 12, "Images in the --report page.")
flags.DEFINE_enum("convention", "pooled", ["pooled", "per_image"],
                  "Multi-label O-P/O-R: counts pooled over images (default) or per-image averages; both are "
                  "written, this one is named first.")
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")
flags.DEFINE_bool("exclude_absent_classes", False, "Multi-label: leave classes with no positive among the "
                  "evaluated images out of C-P/C-R (default: they count, with recall 0; both ways they are listed).")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:  # a folder without a model fails before TensorFlow is imported (seconds)
        saved_config = model_dir_lib.load_config(FLAGS.model_dir)
    except (FileNotFoundError, ValueError) as error:
        command_line.print_error(COMMAND, error)
        return 2
    decode = _DECODE.build()
    # Likewise a model that cannot decode from ground-truth concepts (an OptionError: one line, exit 2).
    decode_options.check_concept_source(decode.concepts, saved_config.get("variant", model_config.ModelConfig.variant))
    # Imported here so that --help and the check above do not wait for TensorFlow.
    from s_cnn_rnn.evaluation import outputs  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.evaluation import report  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.evaluation import runner  # pylint: disable=import-outside-toplevel
    from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, f"eval_{FLAGS.split}")
    try:
        outputs.check_writable(output_dir)  # before any work: decoding a split can take hours
        if FLAGS.report:
            outputs.check_writable(os.path.dirname(os.path.abspath(FLAGS.report)), "--report")
        result = runner.evaluate(
            FLAGS.model_dir, FLAGS.data_dir, split=FLAGS.split, batch_size=decode.batch_size,
            beam_width=decode.beam_width, max_images=FLAGS.max_images, show_progress=FLAGS.progress,
            convention=FLAGS.convention, exclude_absent_classes=FLAGS.exclude_absent_classes,
            checkpoint=decode.checkpoint, concepts=decode.concepts,
        )
    except (FileNotFoundError, ValueError, caption_scores.CaptionDataError) as error:
        command_line.print_error(COMMAND, error)
        return 2
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
    command_line.run(main, COMMAND)


if __name__ == "__main__":
    run()
