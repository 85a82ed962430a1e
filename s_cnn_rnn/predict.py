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

from s_cnn_rnn import command_line

# An unreadable image is an expected outcome reported on our own error line: keep TF's C++
# "OP_REQUIRES failed" warnings about it out of the output too (set the variable to override).
command_line.quiet_startup(__name__, tf_log_level="2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from s_cnn_rnn import decode_options  # noqa: E402
from s_cnn_rnn import errors  # noqa: E402
from s_cnn_rnn import option_flags  # noqa: E402
from s_cnn_rnn.serving import predict_lib  # noqa: E402

FLAGS = flags.FLAGS
COMMAND = "s-cnn-rnn-predict"

command_line.define_path("model_dir", None, "The trained model dir.")
flags.DEFINE_multi_string("images", [], "Glob pattern of image files (repeatable); added to the positional files.")
_DECODE = option_flags.define(decode_options.DecodeOptions, fields=("beam_width", "max_length", "batch_size", "checkpoint"),
                              defaults={"batch_size": 16})
flags.DEFINE_bool("json", False, "Write one JSON object per image per line instead of text.")
command_line.define_path("tags_json", None, "use_tags models: JSON {image path or file name: [tag, ...]}; "
                         "every image needs at least one tag of the model's tags.txt (see --allow_untagged).")
flags.DEFINE_bool("allow_untagged", False, "use_tags models: annotate images without a known tag (no --tags_json, "
                  "no entry, or only tags outside tags.txt) with no tags instead of refusing them; such labels are "
                  "much worse than with tags.")


def _image_paths(positional: list[str], patterns: list[str]) -> tuple[list[str], list[str]]:
    """Positional files + glob matches (sorted per pattern); and the patterns that matched nothing."""
    paths = list(positional)
    unmatched = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if matches:
            paths += matches
        else:
            unmatched.append(pattern)
    return paths, unmatched


def _check_tags(predictor: predict_lib.Predictor, paths: list[str], tags_by_path: dict | None) -> None:
    """Refuses to annotate images without tags with a tag model, unless --allow_untagged.

    Raises:
      errors.UserError: some images would get no tag (names the first of them).
    """
    untagged = predictor.untagged(paths, tags_by_path)
    if not untagged:
        return
    if FLAGS.allow_untagged:
        logging.warning("the model uses tags: %d of %d images have no tag of its tags.txt and are annotated "
                        "without tags (--allow_untagged)", len(untagged), len(paths))
        return
    fix = "or pass --allow_untagged to annotate them without tags (much worse labels)"
    if tags_by_path is None:
        raise errors.UserError(f"the model uses tags: give --tags_json=FILE ({{image path or file name: "
                               f"[tag, ...]}}, tags of MODEL_DIR/vocab/tags.txt), {fix}")
    named = ", ".join(untagged[:3]) + (f" and {len(untagged) - 3} more" if len(untagged) > 3 else "")
    raise errors.UserError(f"--tags_json={FLAGS.tags_json} gives {len(untagged)} of {len(paths)} images no tag of "
                           f"the model's tags.txt ({named}): list their tags by path or file name, {fix}")


def main(argv) -> int:
    paths, unmatched = _image_paths(argv[1:], FLAGS.images)
    if not paths and not unmatched:
        raise app.UsageError("no images: give image files as arguments or --images=GLOB", exitcode=2)
    decode = _DECODE.build()
    try:
        tags_by_path = predict_lib.load_tags_file(FLAGS.tags_json) if FLAGS.tags_json else None
        predictor = predict_lib.Predictor(FLAGS.model_dir, beam_width=decode.beam_width,
                                          max_length=decode.max_length, batch_size=decode.batch_size,
                                          checkpoint=decode.checkpoint)
    except ValueError as error:  # errors.UserError and FileNotFoundError: command_line
        command_line.print_error(COMMAND, error)
        return 2
    if predictor.uses_tags:
        _check_tags(predictor, paths, tags_by_path)
    elif tags_by_path is not None:
        logging.warning("the model uses no tags: --tags_json=%s is ignored", FLAGS.tags_json)
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
    command_line.run(main, COMMAND)


if __name__ == "__main__":
    run()
