r"""The relational model alone (stage 2, T5) on real COCO captions: train, decode, score.

No images: the LSTM decoder is fed each image's GROUND-TRUTH concept vector (its caption words
among the 1,000 concepts, M7), so this measures what the decoder does with perfect concepts.

  1. data: the 40,504 COCO val2014 images and their captions (`--captions_json`; a .json.gz is
     decompressed into the work dir, the reader takes plain JSON); Karpathy val / test ids ->
     "val" / "test", the other 30,504 images -> "train"; captions-only records written by
     `data_prep.convert_lib.convert`, output words = train count >= `--min_word_count` (5: 5,703).
  2. training: `python -m s_cnn_rnn.train --flagfile=flags/coco_real_captions_rnn.flags
     --stage=rnn ...` in a subprocess. Without `--train_steps`, a short first run measures the
     step rate, one test batch the decoding rate, and up to three runs (each resuming, the rate
     measured again after each) fill `--budget_minutes`, decoding and scoring time reserved.
  3. decoding: beam search (width 3, at most 20 tokens) from the test images' ground-truth
     concepts, one tf.function over fixed-size batches, decoder restored from the rnn checkpoint.
  4. scoring: `caption_scores.score_captions` against all captions of each test image, then
     again by the `s-cnn-rnn-score-captions` CLI on the files written (they must agree).

Prints progress (stderr), the scores beside the paper's Table 4 "Ours" row, and a last line of
one JSON object. Example:
  python bench/real_captions.py --budget_minutes=20
"""

import dataclasses
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from data_prep import convert_lib  # noqa: E402
from data_prep.sources import splits as splits_lib  # noqa: E402
from s_cnn_rnn import atomic_files  # noqa: E402
from s_cnn_rnn.metrics import caption_scores  # noqa: E402
from s_cnn_rnn.training import history as history_lib  # noqa: E402
from bench.concept_decoder import ConceptDecoder  # noqa: E402  (the test uses it from here too)

FLAGS = flags.FLAGS
_COCO_DIR = os.path.join(os.path.dirname(PROJECT_ROOT), "shared", "data", "coco_captions")
# Table 4 (ablation on the COCO validation split), row "Ours": CNN-predicted concepts.
PAPER_TABLE4_OURS = {"Bleu_4": 0.340, "METEOR": 0.260, "ROUGE_L": 0.550, "CIDEr": 1.054}
# Scoring 5,000 images (PTB tokenizer, BLEU, METEOR, ROUGE-L, CIDEr) took 33 s here.
_SCORE_SECONDS_FIXED, _SCORE_SECONDS_PER_IMAGE, _SAFETY_SECONDS = 15.0, 0.01, 30.0
_DECODE_SLOWDOWN = 3.0
_MAX_TRAINING_RUNS = 3


def define_flags() -> None:
    """Defines the command's flags (only when run as a script: importing defines none)."""
    flags.DEFINE_float("budget_minutes", 20.0, "Wall-clock budget of the whole command.")
    flags.DEFINE_integer("train_steps", None, "Train exactly this many steps (no budget).")
    flags.DEFINE_string("work_dir", None, "Where data, model and results go (default: a new temp dir).")
    flags.DEFINE_integer("batch_size", None, "Training batch size (default: the flagfile's).")
    flags.DEFINE_integer("max_train_images", None, "Only the first N train images.")
    flags.DEFINE_integer("max_val_images", None, "Only the first N Karpathy val images.")
    flags.DEFINE_integer("max_test_images", 5000, "Only the first N Karpathy test images.")
    flags.DEFINE_integer("min_word_count", 5, "Output words need this many train occurrences.")
    flags.DEFINE_string(
        "captions_json", os.path.join(_COCO_DIR, "captions_val2014_reconstructed.json.gz"), "COCO caption JSON[.gz].")
    flags.DEFINE_string("val_ids", os.path.join(_COCO_DIR, "karpathy_val_ids.txt"), "Val image ids.")
    flags.DEFINE_string("test_ids", os.path.join(_COCO_DIR, "karpathy_test_ids.txt"), "Test image ids.")
    flags.DEFINE_string(
        "train_flagfile", os.path.join(PROJECT_ROOT, "flags", "coco_real_captions_rnn.flags"), "s_cnn_rnn.train flags.")
    flags.DEFINE_multi_string(
        "train_flag", [], "Extra s_cnn_rnn.train flag after the flagfile (repeatable): --train_flag=--lstm_units=64.")
    flags.DEFINE_integer("probe_steps", 30, "Steps of the speed-measuring first run.")
    flags.DEFINE_integer("beam_width", 3, "Beam width (SPEC I2: 3).")
    flags.DEFINE_integer("max_length", 20, "Most tokens decoded per caption.")
    flags.DEFINE_integer("decode_batch_size", 100, "Images per beam search call.")
    flags.DEFINE_bool("skip_cli", False, "Do not re-score with the s-cnn-rnn-score-captions CLI.")


def log(message: str) -> None:
    print(f"[real_captions {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


@dataclasses.dataclass
class Selection:
    """The images used. captions_json: the plain-JSON subset written; counts: images per split;
    test_references: test image id -> all its captions."""

    captions_json: str
    counts: dict
    test_references: dict


def select_images(captions_json: str, val_ids: str, test_ids: str, work_dir: str, max_train=None,
                  max_val=None, max_test=None) -> Selection:
    """Reads the caption JSON (.gz too), keeps the first N images (by id) of each split, writes
    the subset as plain JSON into `work_dir` (the converter reads plain JSON only)."""
    opener = gzip.open if captions_json.endswith(".gz") else open
    with opener(captions_json, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    split_of = {i: "val" for i in splits_lib.read_id_file(val_ids)}
    split_of.update({i: "test" for i in splits_lib.read_id_file(test_ids)})
    limits = {"train": max_train, "val": max_val, "test": max_test}
    kept, counts = set(), {"train": 0, "val": 0, "test": 0}
    for image in sorted(document["images"], key=lambda image: image["id"]):
        split = split_of.get(image["id"], "train")
        if limits[split] is None or counts[split] < limits[split]:
            kept.add(image["id"])
            counts[split] += 1
    annotations = [a for a in document["annotations"] if a["image_id"] in kept]
    test_references: dict = {}
    for annotation in annotations:
        if split_of.get(annotation["image_id"]) == "test":
            test_references.setdefault(annotation["image_id"], []).append(annotation["caption"])
    path = os.path.join(work_dir, "captions.json")
    atomic_files.write_json(path, {"images": [i for i in document["images"] if i["id"] in kept],
                                   "annotations": annotations}, indent=None)
    return Selection(path, counts, test_references)


def convert_captions(captions_json: str, val_ids: str, test_ids: str, data_dir: str, min_word_count: int) -> dict:
    """Captions-only records (no image_dirs) via the project's converter; returns the manifest."""
    return convert_lib.convert(convert_lib.ConvertOptions(
        dataset="coco_captions", output_dir=data_dir, captions_json=[captions_json], image_dirs=None,
        splits=f"val:{val_ids},test:{test_ids}", overwrite=True, min_word_count=min_word_count,
        num_workers=0, show_progress=False))


# ----------------------------------------------------------------------------- training


def _history(model_dir: str) -> list[dict]:
    return history_lib.read_history(os.path.join(model_dir, "rnn", "history.jsonl"))


def measured_steps_per_second(model_dir: str, after_step: int = 0) -> float:
    """Median step rate of the windows logged after `after_step`, the first (tracing) left out."""
    rates = [r["steps_per_second"] for r in _history(model_dir) if "steps_per_second" in r and r["step"] > after_step]
    if not rates:
        raise RuntimeError(f"{model_dir}/rnn/history.jsonl has no step rate")
    return statistics.median(rates[1:] or rates)


def last_history_record(model_dir: str) -> dict:
    return _history(model_dir)[-1]


def train_command(data_dir: str, model_dir: str, steps: int, log_every: int | None = None) -> list[str]:
    command = [sys.executable, "-m", "s_cnn_rnn.train", f"--flagfile={FLAGS.train_flagfile}", "--stage=rnn",
               f"--data_dir={data_dir}", f"--model_dir={model_dir}", f"--rnn_train_steps={steps}"]
    if FLAGS.batch_size:
        command.append(f"--batch_size={FLAGS.batch_size}")
    command += list(FLAGS.train_flag) + ([f"--log_every={log_every}"] if log_every else [])
    return command


def run_training(data_dir: str, model_dir: str, steps: int, log_every: int | None = None) -> float:
    """Runs s_cnn_rnn.train up to `steps` in total (it resumes); returns its wall seconds."""
    command = train_command(data_dir, model_dir, steps, log_every)
    log("$ " + " ".join(command))
    started = time.monotonic()
    completed = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"training failed (exit {completed.returncode}): {' '.join(command)}")
    return time.monotonic() - started


# ----------------------------------------------------------------------------- decoding


# ----------------------------------------------------------------------------- scoring


def write_caption_files(work_dir: str, references: dict, results: dict) -> tuple[str, str]:
    """COCO caption annotations of the scored images and a COCO results list."""
    references_path = os.path.join(work_dir, "references_test.json")
    results_path = os.path.join(work_dir, "results_test.json")
    annotations = [{"image_id": i, "id": n, "caption": caption} for n, (i, caption) in enumerate(
        (i, caption) for i in results for caption in references[i])]
    atomic_files.write_json(references_path, {"images": [{"id": i} for i in results], "annotations": annotations},
                            indent=None)
    atomic_files.write_json(results_path, [{"image_id": i, "caption": c} for i, c in results.items()], indent=None)
    return references_path, results_path


def score_with_cli(references_path: str, results_path: str, work_dir: str) -> dict:
    """Runs `python -m s_cnn_rnn.score_captions` on the written files; returns its --output JSON."""
    output = os.path.join(work_dir, "cli_scores.json")
    command = [sys.executable, "-m", "s_cnn_rnn.score_captions", f"--references={references_path}",
               f"--results={results_path}", f"--output={output}"]
    log("$ " + " ".join(command))
    completed = subprocess.run(command, cwd=PROJECT_ROOT, check=False, stdout=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise RuntimeError(f"the score CLI failed (exit {completed.returncode}): {' '.join(command)}")
    with open(output, encoding="utf-8") as handle:
        return json.load(handle)


def same_scores(first: dict, second: dict, tolerance: float = 1e-6) -> bool:
    return all((first.get(k) is None and second.get(k) is None)
               or (first.get(k) is not None and second.get(k) is not None and abs(first[k] - second[k]) <= tolerance)
               for k in caption_scores.SCORE_KEYS)


def scores_table(scores: dict, num_images: int) -> str:
    lines = [f"Karpathy test, {num_images} images, decoder fed ground-truth concepts (beam "
             f"{FLAGS.beam_width}) vs the paper's Table 4 'Ours' (CNN-predicted concepts):",
             f"{'metric':<8} {'ours (GT concepts)':>19} {'paper Ours':>11}"]
    for key, paper in PAPER_TABLE4_OURS.items():
        value = scores.get(key)
        lines.append(f"{key:<8} {('n/a' if value is None else f'{value:.3f}'):>19} {paper:>11.3f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def budgeted_training(started: float, data_dir: str, model_dir: str, decoder: ConceptDecoder, num_test: int):
    """A probe run and a decoding probe, then training runs (each resuming) that fill the budget.

    The machine is shared and step rates drift, so after each run the rate is measured again
    and another run tops the steps up while over a minute of training still fits.

    Returns:
      (total steps trained, the measurements).
    """
    probe_steps = FLAGS.probe_steps
    probe_seconds = run_training(data_dir, model_dir, probe_steps, log_every=max(1, probe_steps // 3))
    rate = measured_steps_per_second(model_dir)
    startup_seconds = max(0.0, probe_seconds - probe_steps / rate)
    decoder.restore_latest()
    # A barely trained decoder ends its captions early: a trained one took ~3x longer.
    decode_seconds_per_image = _DECODE_SLOWDOWN * decoder.seconds_per_image(data_dir, "test")
    score_seconds = (1 if FLAGS.skip_cli else 2) * (_SCORE_SECONDS_FIXED + num_test * _SCORE_SECONDS_PER_IMAGE)
    reserved = num_test * decode_seconds_per_image + score_seconds + startup_seconds + _SAFETY_SECONDS
    deadline = started + 60.0 * FLAGS.budget_minutes
    steps, runs = probe_steps, []
    for _ in range(_MAX_TRAINING_RUNS):
        seconds_left = deadline - time.monotonic() - reserved
        # The probe's rate comes from seconds of a shared machine: the first run takes 60% of the
        # time left, the next ones (rate measured again) fill the rest; ~3% goes to validation.
        extra = int((0.97 if runs else 0.6) * seconds_left * rate)
        if extra < 60.0 * rate:
            break
        log(f"{rate:.3f} steps/s, {seconds_left / 60:.1f} min left to train -> {extra} more steps")
        run_seconds = run_training(data_dir, model_dir, steps + extra)
        runs.append({"from_step": steps, "to_step": steps + extra, "seconds": round(run_seconds, 1)})
        rate = measured_steps_per_second(model_dir, after_step=steps)
        steps += extra
    return steps, {"probe_steps": probe_steps, "startup_seconds": round(startup_seconds, 1),
                   "decode_seconds_per_image_estimate": round(decode_seconds_per_image, 5),
                   "reserved_seconds": round(reserved, 1), "runs": runs}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    started = time.monotonic()
    for name in ("captions_json", "val_ids", "test_ids"):  # defaults: the optional real-data folder
        if not os.path.isfile(FLAGS[name].value):
            raise app.UsageError(f"--{name}={FLAGS[name].value} does not exist; pass the COCO file")
    work_dir = os.path.abspath(FLAGS.work_dir or tempfile.mkdtemp(prefix="real_captions_"))
    if (work_dir + os.sep).startswith(PROJECT_ROOT + os.sep):
        raise app.UsageError(f"--work_dir={work_dir} is inside the project tree; choose a directory outside it")
    os.makedirs(work_dir, exist_ok=True)
    data_dir, model_dir = os.path.join(work_dir, "data"), os.path.join(work_dir, "model")
    log(f"work dir {work_dir}")
    selection = select_images(FLAGS.captions_json, FLAGS.val_ids, FLAGS.test_ids, work_dir,
                              FLAGS.max_train_images, FLAGS.max_val_images, FLAGS.max_test_images)
    manifest = convert_captions(selection.captions_json, FLAGS.val_ids, FLAGS.test_ids, data_dir,
                                FLAGS.min_word_count)
    vocab_sizes = {name: entry["size"] for name, entry in manifest["vocabularies"].items() if entry["size"]}
    log(f"converted {selection.counts} images; vocabularies {vocab_sizes} ({time.monotonic() - started:.0f} s)")
    num_test = len(selection.test_references)

    decoder = ConceptDecoder(model_dir, FLAGS.beam_width, FLAGS.max_length, FLAGS.decode_batch_size)
    train_started = time.monotonic()
    if FLAGS.train_steps is not None:
        steps, plan = FLAGS.train_steps, {}
        run_training(data_dir, model_dir, steps)
    else:
        steps, plan = budgeted_training(started, data_dir, model_dir, decoder, num_test)
    train_seconds = time.monotonic() - train_started
    final_record = last_history_record(model_dir)

    checkpoint = decoder.restore_latest()
    decode_started = time.monotonic()
    results = decoder.decode_split(data_dir, "test", max_images=num_test)
    decode_seconds = time.monotonic() - decode_started
    log(f"decoded {len(results)} test images from {checkpoint} in {decode_seconds:.0f} s; e.g. "
        + " | ".join(f"{i}: {results[i]}" for i in list(results)[:3]))
    references_path, results_path = write_caption_files(work_dir, selection.test_references, results)
    score_started = time.monotonic()
    scores = caption_scores.score_captions(selection.test_references, results)
    cli_scores = None if FLAGS.skip_cli else score_with_cli(references_path, results_path, work_dir)
    score_seconds = time.monotonic() - score_started

    print(scores_table(scores, len(results)))
    summary = {
        "work_dir": work_dir, "images": selection.counts, "vocabularies": vocab_sizes, "train_steps": steps,
        "batch_size": round(final_record["examples_per_second"] / final_record["steps_per_second"]),
        "final_train_record": final_record, "budget_minutes": FLAGS.budget_minutes,
        "plan": plan, "seconds": {"train": round(train_seconds, 1), "decode": round(decode_seconds, 1),
                                  "score": round(score_seconds, 1), "total": round(time.monotonic() - started, 1)},
        "scores": {k: v for k, v in scores.items() if k != caption_scores.UNAVAILABLE_KEY},
        "unavailable": scores.get(caption_scores.UNAVAILABLE_KEY, {}),
        "paper_table4_ours": PAPER_TABLE4_OURS,
        "beats_paper_cider": bool(scores.get("CIDEr") is not None and scores["CIDEr"] > PAPER_TABLE4_OURS["CIDEr"]),
        "cli_scores_match": None if cli_scores is None else same_scores(scores, cli_scores),
        "files": {"references": references_path, "results": results_path},
    }
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
