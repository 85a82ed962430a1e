"""Where an evaluation's files go, checked before any work, and what share of the split it covers.

* `check_writable` runs before decoding: a read-only model dir used to be found out only after
  the whole split was decoded, losing the work.
* A partial evaluation (`max_images`) writes into `OUTPUT_DIR/max_images-N/`, and one decoded
  from ground-truth concepts into `OUTPUT_DIR/ground_truth_concepts/`, never over the full
  split's metrics.json (`results_dir`).
* `split_coverage` says how many of the split's images were evaluated and how many the
  converter skipped (from the data dir's manifest.json), for metrics.json and the table.
"""

import json
import os
import tempfile

from s_cnn_rnn import atomic_files
from s_cnn_rnn import data_dir as data_dir_lib

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
CAPTIONS_RESULTS_FILE = "captions_results.json"
# An extra output's key (`EXTRA_OUTPUTS`) -> its file name.
_EXTRA_FILES = {"captions_results": CAPTIONS_RESULTS_FILE}


def _captions_results(predictions: list) -> dict:
    """captions_results.json: the best caption per image, in the COCO results format."""
    return {"captions_results": [{"image_id": entry["image_id"], "caption": entry["caption"]}
                                 for entry in predictions]}


# Task name -> (predictions.jsonl entries -> {output key: JSON-able payload}) written beside metrics.json.
EXTRA_OUTPUTS = {"caption": _captions_results, "multilabel": lambda predictions: {}}


class OutputNotWritableError(ValueError):
    """The evaluation's output dir cannot be written; one line naming it and the flag to pass."""


def check_writable(directory: str, flag: str = "--output_dir") -> None:
    """Refuses early a directory that could not be created or written into.

    The nearest existing ancestor gets a real probe file: what will happen to the outputs, not
    what the permission bits suggest (they do not bind root; they say nothing of a file in the way).

    Raises:
      OutputNotWritableError: "<dir> is not writable: pass --output_dir=..." (one line).
    """
    existing = os.path.abspath(os.path.expanduser(directory))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(existing)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise OutputNotWritableError(
            f"{directory} is not writable ({type(error).__name__} at {existing}): pass {flag}=... somewhere "
            "you can write"
        ) from None


def results_dir(output_dir: str, max_images: int | None, concepts: str = "predicted") -> str:
    """`output_dir` for a whole split; `.../max_images-N` for the first N images only; an oracle
    evaluation (`concepts="ground_truth"`) under `output_dir/ground_truth_concepts/` first."""
    if concepts != "predicted":
        output_dir = os.path.join(output_dir, f"{concepts}_concepts")
    return output_dir if max_images is None else os.path.join(output_dir, f"max_images-{max_images}")


def split_coverage(data_dir: str, split: str, num_evaluated: int) -> dict:
    """How much of `split` an evaluation of `num_evaluated` images covers.

    Returns:
      {"split_images": images the converter wrote for the split, "evaluated": num_evaluated,
       "converter_skipped": images of the split the converter skipped, "converter_skipped_no_split":
       skipped images whose split the manifest does not record (older manifests, annotation-level
       skips)}.
    """
    manifest = data_dir_lib.read_manifest(data_dir)
    images = [entry for entry in manifest.get("skipped", []) if entry.get("kind") == "image"]
    return {
        "split_images": int(manifest["splits"].get(split, {}).get("num_examples", 0)),
        "evaluated": num_evaluated,
        "converter_skipped": len({entry.get("id") for entry in images if entry.get("split") == split}),
        "converter_skipped_no_split": len({entry.get("id") for entry in images if "split" not in entry}),
    }


def coverage_line(coverage: dict, split: str) -> str:
    """'evaluated 5 of 8 images of split test; the converter skipped 1 (manifest.json)'."""
    line = (f"evaluated {coverage['evaluated']} of {coverage['split_images']} images of split {split}; "
            f"the converter skipped {coverage['converter_skipped']} (manifest.json)")
    if coverage["converter_skipped_no_split"]:
        line += f" and {coverage['converter_skipped_no_split']} of no recorded split"
    return line


def write_outputs(result, output_dir: str) -> dict[str, str]:
    """Writes metrics.json, predictions.jsonl and (captions) captions_results.json, each atomically.

    A partial evaluation (`result.summary["max_images"]` set) or an oracle one
    (`result.summary["concept_source"]` "ground_truth") goes to `results_dir(...)`.

    Args:
      result: a `runner.EvaluationResult`.
      output_dir: the evaluation's folder (e.g. MODEL_DIR/eval_test).

    Returns:
      {"metrics" | "predictions" | "captions_results": path}.
    """
    output_dir = results_dir(output_dir, result.summary.get("max_images"),
                             result.summary.get("concept_source", "predicted"))
    paths = {"metrics": os.path.join(output_dir, METRICS_FILE),
             "predictions": os.path.join(output_dir, PREDICTIONS_FILE)}
    atomic_files.write_text(paths["predictions"], "".join(json.dumps(entry) + "\n" for entry in result.predictions))
    for key, payload in EXTRA_OUTPUTS[result.task](result.predictions).items():
        paths[key] = os.path.join(output_dir, _EXTRA_FILES[key])
        atomic_files.write_text(paths[key], json.dumps(payload, indent=1) + "\n")
    atomic_files.write_text(paths["metrics"], json.dumps(result.summary, indent=2) + "\n")
    return paths
