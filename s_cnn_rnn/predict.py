r"""`s-cnn-rnn-predict`: labels or captions for image files, with a trained model dir.

Example:
  s-cnn-rnn-predict --model_dir=/tmp/model photo1.jpg photo2.png
  s-cnn-rnn-predict --model_dir=/tmp/model --json --images='/data/photos/*.jpg' > predictions.jsonl

Text output: each image's path, then one `probability  label` line per label (in emitted,
rare-first order) or one `log-probability  caption` line per beam (best first). `--json`:
one JSON object per image per line (JSON Lines), in input order: {"image", "labels":
[{"label", "probability"}] | "captions": [{"caption", "log_prob"}], "concepts": [...]}.
A file that is not a readable image gets an `error: PATH: not a readable image (...)` line
on stderr (and an {"image", "error"} object with --json); the others are still annotated.
Exit code: 0 when every image was annotated, 1 when any failed, 2 on a usage or model error.
"""

import glob
import json
import os
import sys

# An unreadable image is an expected outcome reported on our own error line: keep TF's C++
# "OP_REQUIRES failed" log lines about it out of the output (set the variable to override).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from s_cnn_rnn.serving import predict_lib  # noqa: E402
from s_cnn_rnn.training import model_store  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "The trained model dir.")
flags.DEFINE_multi_string("images", [], "Glob pattern of image files (repeatable); added to the positional files.")
flags.DEFINE_integer("beam_width", 3, "Captions: beam width (SPEC I2: 3).")
flags.DEFINE_integer("max_length", None, "Most tokens decoded (default: 20 for captions, the label count for labels).")
flags.DEFINE_integer("batch_size", 16, "Images per model call.")
flags.DEFINE_string("checkpoint", "best", model_store.CHECKPOINT_HELP)
flags.DEFINE_bool("json", False, "Write one JSON object per image per line instead of text.")
flags.DEFINE_string("tags_json", None, "use_tags models: JSON {image path or file name: [tag, ...]}; "
                    "images without an entry get no tags.")


def _image_paths(positional: list[str], patterns: list[str]) -> tuple[list[str], list[str]]:
    """Positional files + glob matches (sorted per pattern); and the patterns that matched nothing."""
    paths = list(positional)
    unmatched = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if matches:
            paths += matches
        else:
            unmatched.append(pattern)
    return paths, unmatched


def main(argv) -> int:
    paths, unmatched = _image_paths(argv[1:], FLAGS.images)
    if not paths and not unmatched:
        raise app.UsageError("no images: give image files as arguments or --images=GLOB", exitcode=2)
    try:
        tags_by_path = predict_lib.load_tags_file(FLAGS.tags_json) if FLAGS.tags_json else None
        predictor = predict_lib.Predictor(FLAGS.model_dir, beam_width=FLAGS.beam_width,
                                          max_length=FLAGS.max_length, batch_size=FLAGS.batch_size,
                                          checkpoint=FLAGS.checkpoint)
    except (FileNotFoundError, ValueError) as error:
        logging.error("%s", error)
        print(f"s-cnn-rnn-predict: error: {error}", file=sys.stderr)
        return 2
    if predictor.uses_tags and tags_by_path is None:
        logging.warning("the model uses tags but --tags_json is not given: annotating without tags")
    predictions = predictor.predict_files(paths, tags_by_path)
    predictions += [predict_lib.Prediction(pattern, error="no file matches this --images pattern")
                    for pattern in unmatched]
    for prediction in predictions:
        if prediction.error is not None:
            print(f"error: {prediction.path}: {prediction.error}", file=sys.stderr)
        elif not FLAGS.json:
            print(prediction.to_text())
        if FLAGS.json:
            print(json.dumps(prediction.to_json(), ensure_ascii=False))
    return 1 if any(prediction.error is not None for prediction in predictions) else 0


def run() -> None:
    """Console-script entry point."""
    flags.mark_flags_as_required(["model_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
