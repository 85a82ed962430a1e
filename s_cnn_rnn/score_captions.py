r"""Scores a COCO-format caption results file: BLEU-1..4, METEOR, ROUGE_L, CIDEr (SPEC E2).

Prints one JSON object on stdout (messages go to stderr), and writes it to --output if given:

  s-cnn-rnn-score-captions \
      --references=captions_val2014.json --results=captions_val2014_mymodel_results.json

The references are COCO caption annotations (`{"annotations": [{"image_id", "caption"}, ...]}`,
`.json` or `.json.gz`); the results a list of `{"image_id", "caption"}`, one per image. Only the
results' images are scored, as coco-caption does, and a results file must cover every reference
image (its coverage is printed; --allow_partial scores a partial one). Without Java, METEOR is null and the
"unavailable" entry says why (see `s_cnn_rnn.metrics.caption_scores`).
"""

import json
import time

from s_cnn_rnn import command_line

command_line.quiet_startup(__name__)

from absl import app, flags, logging  # noqa: E402

from s_cnn_rnn import atomic_files  # noqa: E402
from s_cnn_rnn import errors  # noqa: E402
from s_cnn_rnn.metrics import caption_scores  # noqa: E402

FLAGS = flags.FLAGS
COMMAND = "s-cnn-rnn-score-captions"
command_line.define_path("references", None, "COCO caption-annotation JSON (.json or .json.gz).")
command_line.define_path("results", None, "COCO caption results JSON: [{image_id, caption}, ...].")
command_line.define_path("output", None, "Also write the scores JSON here (atomically).")
flags.DEFINE_bool("allow_partial", False, "Score a results file that covers only some of the reference images "
                  "(only those are scored); by default it is refused, since its scores are not the split's.")


def check_coverage(references: dict, results: dict, allow_partial: bool) -> dict:
    """How many reference images the results cover; refuses a partial file unless `allow_partial`.

    Returns:
      {"scored_images": covered, "reference_images": all} (the output's "coverage").

    Raises:
      errors.UserError: the results miss some reference images (names a few) and not `allow_partial`.
    """
    missing = [image_id for image_id in references if image_id not in results]
    coverage = {"scored_images": len(references) - len(missing), "reference_images": len(references)}
    if missing and not allow_partial:
        named = ", ".join(map(str, missing[:3])) + (", ..." if len(missing) > 3 else "")
        raise errors.UserError(
            f"--results={FLAGS.results} covers {coverage['scored_images']} of the {len(references)} images of "
            f"--references={FLAGS.references} (no caption for {named}): give a result for every image, or pass "
            "--allow_partial to score only the images it covers")
    logging.info("the results cover %d of the %d reference images", *coverage.values())
    return coverage


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    started = time.monotonic()
    # A bad input file raises CaptionDataError (a UserError: one line, exit status 2).
    references = caption_scores.load_references(FLAGS.references)
    results = caption_scores.load_results(FLAGS.results)
    coverage = check_coverage(references, results, FLAGS.allow_partial)
    logging.info("scoring %d results against %s", len(results), FLAGS.references)
    try:
        scores = caption_scores.score_captions(references, results)
    except caption_scores.CaptionDataError:
        raise
    except RuntimeError as error:  # Java is there but the tokenizer or METEOR failed: not the user's input
        command_line.print_error(COMMAND, error)
        return 1
    scores["coverage"] = coverage
    for name, reason in scores.get(caption_scores.UNAVAILABLE_KEY, {}).items():
        logging.warning("%s: %s", name, reason)
    if FLAGS.output:
        atomic_files.write_json(FLAGS.output, scores, indent=2)
        logging.info("wrote %s", FLAGS.output)
    logging.info("scored in %.1f s", time.monotonic() - started)
    print(json.dumps(scores, indent=2))
    return 0


def run() -> None:
    """Console-script entry point (`s-cnn-rnn-score-captions`)."""
    flags.mark_flags_as_required(["references", "results"])
    command_line.run(main, COMMAND)


if __name__ == "__main__":
    run()
