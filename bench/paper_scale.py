r"""The paper's configuration at its real sizes, run and measured on this machine.

  python bench/paper_scale.py --work_dir=DIR        # everything it makes goes under DIR

  1. inputs (`bench/paper_scale_inputs.py`): the real annotations at full size (COCO val2014
     captions as the annotation file ships them + the Karpathy split files; COCO 2014 instances
     files built from the real 80-class label matrix), every image a hard link to one of the 12
     real COCO JPEGs (STAND-IN pixels: real sizes and decode cost, no accuracy measured), stand-in
     user tags for Ours+Tag1K.
  2. conversion: `python -m data_prep.convert` (= s-cnn-rnn-convert) per dataset; images/s, CPU,
     peak memory, size; the paper's vocabulary facts checked on the real text (Sec. 5.1).
  3. training: every stage of flags/coco_caption_ours, coco_caption_nic_f, coco_multilabel_ours
     and coco_multilabel_ours_tag1k.flags at their real settings (batch 32, 299 / 224 px, the
     12,000-word vocabulary, ...) for a few steps, `--backbone_weights=none` (offline), one
     process per stage: seconds and CPU seconds per step (the first step of a phase, which
     traces, left out), peak memory, checkpoint size.
  4. evaluation: `python -m s_cnn_rnn.evaluate` on --eval_images Karpathy test images, beam 3,
     decode and scoring timed apart; `python -m s_cnn_rnn.export`, then the SavedModel served
     once in a fresh process (`bench/paper_scale_serve.py`).
  5. the schedule: per stage, the measured cost per step x the flagfile's steps, and the
     training FLOPs per step (`bench/paper_scale_flops.py`).

Validation is off in the timed runs (`--validate_every=0`): the flagfiles validate 20 batches
every 5,000 steps, a forward pass over 640 images, 0.4% of the steps' work; the schedule leaves it out. Results: bench/results/paper_scale.{json,md}; the last line printed is
one JSON object. Data dirs are removed once their stages are done (--keep_data keeps them).
"""

import dataclasses
import json
import os
import shutil
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from bench import paper_scale_inputs as inputs_lib  # noqa: E402
from bench.paper_scale_process import Disk, Progress, disk_bytes, log, run_command  # noqa: E402
from bench import paper_scale_report as report_lib  # noqa: E402
from s_cnn_rnn import atomic_files  # noqa: E402
from s_cnn_rnn.evaluation import outputs  # noqa: E402

_WORK_DIR = flags.DEFINE_string("work_dir", None, "Everything the bench makes goes here (outside the project).")
_DATA_ROOT = flags.DEFINE_string("data_root", inputs_lib.DATA_ROOT, "The real-data folder (../shared/data).")
_PARTS = flags.DEFINE_list("parts", ["captions", "multilabel"], "Which of captions, multilabel to run.")
_STEPS = flags.DEFINE_integer("steps", 3, "Steps per image stage (phase); the first traces and is not timed.")
_HEAD_STEPS = flags.DEFINE_integer("head_steps", 3, "Head-only steps of the captioning cnn stage (T4).")
_IMAGE_FREE_STEPS = flags.DEFINE_integer("image_free_steps", 20, "Steps of the rnn and tags stages.")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 5000, "Karpathy test images evaluated (beam 3).")
_CAPTION_IMAGES = flags.DEFINE_integer("caption_images_per_split", None, "Fewer images (None: all 40,504).")
_MULTILABEL_IMAGES = flags.DEFINE_integer("multilabel_images_per_set", None, "Fewer images (None: all 122,218).")
_SKIP_STAGES = flags.DEFINE_list(
    "skip_stages", [], "FLAGFILE:STAGE entries not run (e.g. coco_caption_nic_f:joint); the schedule then takes "
    "that stage's cost per step from the same stage of the part's first flagfile, and says so.")
_KEEP_DATA = flags.DEFINE_bool("keep_data", False, "Keep the converted data dirs at the end.")
_REPORT_ONLY = flags.DEFINE_string(
    "report_only", None, "Render --results_dir from finished runs' WORK_DIR/paper_scale_progress.json (several, "
    "comma-separated: e.g. --parts=captions and --parts=multilabel run side by side); run nothing.")
_RESULTS = flags.DEFINE_string("results_dir", os.path.join(PROJECT_ROOT, "bench", "results"),
                               "Where paper_scale.json and paper_scale.md go.")

CAPTION_FLAGFILES = ("coco_caption_ours", "coco_caption_nic_f")
MULTILABEL_FLAGFILES = ("coco_multilabel_ours", "coco_multilabel_ours_tag1k")


def _python(*args: str) -> list:
    return [sys.executable, *args]


# ----------------------------------------------------------------------------- conversion


def convert(name: str, arguments: list, data_dir: str, logs: str) -> dict:
    """`python -m data_prep.convert` (= s-cnn-rnn-convert); its rates, memory and output size."""
    command = _python("-m", "data_prep.convert", f"--output_dir={data_dir}", "--noprogress", *arguments)
    run = run_command(command, os.path.join(logs, f"convert_{name}.log"))
    with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    images = sum(entry.get("num_examples", 0) for entry in manifest.get("splits", {}).values()) \
        if isinstance(manifest.get("splits"), dict) else None
    result = {"command": " ".join(command[1:]), "wall_seconds": round(run.wall, 1), "cpu_seconds": round(run.cpu, 1),
              "peak_memory_mb": round(run.peak_mb), "bytes": disk_bytes(data_dir), "images": images,
              "manifest_splits": manifest.get("splits"), "skipped": len(manifest.get("skipped", []))}
    if images:
        result["images_per_second"] = round(images / run.wall, 1)
        result["cpu_ms_per_image"] = round(1000 * run.cpu / images, 2)
    log(f"converted {name}: {json.dumps({k: v for k, v in result.items() if k != 'manifest_splits'})}")
    return result


# ----------------------------------------------------------------------------- training


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def step_costs(steps: list) -> dict:
    """Per phase ("head" / "all"): median wall seconds per step and mean CPU seconds per step, each
    phase's first step (it traces the step function) left out, and the first step's own wall seconds.

    CPU is read when a record appears, so steps faster than the poll share one reading (the first
    gets it all, the others 0): only their mean is right, not their median."""
    phases = {}
    for step, phase, wall, cpu in steps:
        phases.setdefault(phase, []).append((step, wall, cpu))
    costs = {}
    for phase, rows in phases.items():
        rows.sort()
        timed = rows[1:] or rows
        cpus = [c for _, _, c in timed if c is not None]
        costs[phase] = {"steps_timed": len(timed), "wall_per_step": _median(w for _, w, _ in timed),
                        "cpu_per_step": round(statistics.mean(cpus), 3) if cpus else None,
                        "first_step_wall": round(rows[0][1], 2)}
    return costs


def train_stage(flagfile: str, stage: str, data_dir: str, model_dir: str, logs: str) -> dict:
    """One stage of a paper flagfile, a few steps at its real settings, in its own process."""
    image_free = stage in ("rnn", "tags")
    steps = _IMAGE_FREE_STEPS.value if image_free else _STEPS.value
    command = _python("-m", "s_cnn_rnn.train", f"--flagfile=flags/{flagfile}.flags", f"--stage={stage}",
                      f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--backbone_weights=none",
                      f"--{stage}_train_steps={steps}", "--log_every=1", "--validate_every=0")
    if stage == "cnn" and flagfile.startswith("coco_caption"):
        command.append(f"--cnn_head_steps={_HEAD_STEPS.value}")
    history = os.path.join(model_dir, stage, "history.jsonl")
    run = run_command(command, os.path.join(logs, f"train_{flagfile}_{stage}.log"), history)
    checkpoints = os.path.join(model_dir, stage, "checkpoints")
    result = {"flagfile": flagfile, "stage": stage, "command": " ".join(command[1:]), "wall_seconds": round(run.wall, 1),
              "cpu_seconds": round(run.cpu, 1), "peak_memory_mb": round(run.peak_mb),
              "checkpoint_bytes": disk_bytes(checkpoints) if os.path.isdir(checkpoints) else 0,
              "checkpoints_kept": len([n for n in os.listdir(checkpoints) if n.endswith(".index")])
              if os.path.isdir(checkpoints) else 0,
              "stage_dir_bytes": disk_bytes(os.path.join(model_dir, stage)), "phases": step_costs(run.steps),
              "step_samples": run.steps}
    log(f"trained {flagfile} {stage}: {json.dumps(result['phases'])}, {result['peak_memory_mb']} MB, "
        f"checkpoint {result['checkpoint_bytes'] / 1e6:.0f} MB")
    return result


def flops(model_dir: str, batch: int, sequence_length: int, logs: str) -> dict:
    run = run_command(_python("bench/paper_scale_flops.py", model_dir, str(batch), str(sequence_length)),
                      os.path.join(logs, f"flops_{os.path.basename(model_dir)}.log"))
    with open(os.path.join(logs, f"flops_{os.path.basename(model_dir)}.log"), encoding="utf-8") as handle:
        result = json.loads(handle.read().strip().splitlines()[-1])
    result["seconds"] = round(run.wall, 1)
    return result


def paper_steps(flagfile: str) -> dict:
    """{stage: steps} the flagfile trains (cnn: head-only steps apart as "cnn_head")."""
    from bench import _bench_util  # pylint: disable=import-outside-toplevel  (imports TensorFlow)
    from s_cnn_rnn.models import variants  # pylint: disable=import-outside-toplevel

    values = _bench_util.parse_train_flagfile(os.path.join(PROJECT_ROOT, "flags", f"{flagfile}.flags"))
    steps = {}
    for stage in variants.stages_to_run(values["variant"].value, values["use_tags"].value):
        steps[stage] = values[f"{stage}_train_steps"].value
        if stage == "cnn" and values["cnn_head_steps"].value:
            steps["cnn_head"] = values["cnn_head_steps"].value
    return {"steps": steps, "batch_size": values["batch_size"].value,
            "validate_every": values["validate_every"].value, "validation_steps": values["validation_steps"].value}


def train_flagfiles(flagfiles, data_dir: str, work_dir: str, logs: str, sequence_length: int,
                    progress: Progress, part: dict) -> None:
    """Every stage of each flagfile, in order, then its FLOPs per step, into part["training"]."""
    part["training"] = results = {}
    for flagfile in flagfiles:
        model_dir = os.path.join(work_dir, "models", flagfile)
        plan = paper_steps(flagfile)
        results[flagfile] = entry = {"paper": plan, "stages": [], "model_dir": model_dir}
        for stage in plan["steps"]:
            if stage == "cnn_head" or f"{flagfile}:{stage}" in _SKIP_STAGES.value:
                continue
            trained = progress.phase(f"{flagfile}:{stage}", train_stage, flagfile, stage, data_dir, model_dir, logs)
            if trained is None:
                break  # the next stages start from this one
            entry["stages"].append(trained)
        entry["flops"] = progress.phase(f"{flagfile}:flops", flops, model_dir, plan["batch_size"], sequence_length,
                                        logs)


# ----------------------------------------------------------------------------- evaluation and serving


def evaluate(model_dir: str, data_dir: str, work_dir: str, logs: str) -> dict:
    output_dir = os.path.join(work_dir, "eval_test")
    command = _python("-m", "s_cnn_rnn.evaluate", f"--model_dir={model_dir}", f"--data_dir={data_dir}", "--split=test",
                      f"--max_images={_EVAL_IMAGES.value}", "--beam_width=3", "--noprogress",
                      f"--output_dir={output_dir}")
    run = run_command(command, os.path.join(logs, "evaluate.log"))
    written = outputs.results_dir(output_dir, _EVAL_IMAGES.value)  # a partial split's own subfolder
    with open(os.path.join(written, outputs.METRICS_FILE), encoding="utf-8") as handle:
        metrics = json.load(handle)
    seconds = metrics["seconds"]
    with open(os.path.join(written, outputs.PREDICTIONS_FILE), encoding="utf-8") as handle:
        lengths = [len(str(json.loads(line).get("caption", "")).split()) for line in handle if line.strip()]
    result = {"command": " ".join(command[1:]), "images": metrics["num_images"], "wall_seconds": round(run.wall, 1),
              "cpu_seconds": round(run.cpu, 1), "peak_memory_mb": round(run.peak_mb),
              "load_and_decode_seconds": seconds["decode"], "score_seconds": round(seconds["total"] - seconds["decode"], 1),
              "decode_seconds_per_image": round(seconds["decode"] / metrics["num_images"], 4),
              "mean_caption_words": round(statistics.mean(lengths), 2) if lengths else None,
              "metrics_of_stand_in_pixels": metrics["metrics"]}
    log(f"evaluated: {json.dumps(result)}")
    return result


def export_and_serve(model_dir: str, work_dir: str, logs: str, images: list) -> dict:
    export_dir = os.path.join(work_dir, "export", "1")
    command = _python("-m", "s_cnn_rnn.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    run = run_command(command, os.path.join(logs, "export.log"))
    serve_log = os.path.join(logs, "serve.log")
    serve = run_command(_python("bench/paper_scale_serve.py", export_dir, *images), serve_log)
    with open(serve_log, encoding="utf-8") as handle:
        served = json.loads(handle.read().strip().splitlines()[-1])
    result = {"export_command": " ".join(command[1:]), "export_wall_seconds": round(run.wall, 1),
              "export_cpu_seconds": round(run.cpu, 1), "export_peak_memory_mb": round(run.peak_mb),
              "saved_model_bytes": disk_bytes(export_dir), "serve_wall_seconds": round(serve.wall, 1),
              "serve_peak_memory_mb": round(serve.peak_mb), "serve": served}
    log(f"exported and served: {json.dumps(result)}")
    return result


# ----------------------------------------------------------------------------- main


def _timed_inputs(part: dict, make, *args):
    """`make(*args)` (an inputs record), with its seconds and fields kept as part["inputs"]."""
    started = time.perf_counter()
    made = make(*args)
    part["inputs"] = {"seconds": round(time.perf_counter() - started, 1), **dataclasses.asdict(made)}
    return made


def caption_part(work_dir: str, logs: str, disk: Disk, progress: Progress) -> None:
    """Captions: inputs, conversion, the two caption flagfiles' stages, evaluation, export, serving."""
    progress.result["captions"] = part = {}
    made = _timed_inputs(part, inputs_lib.make_caption_inputs, os.path.join(work_dir, "raw_captions"),
                         _DATA_ROOT.value, _CAPTION_IMAGES.value)
    log(f"caption inputs: {made.images} images, {made.captions} captions, splits {made.split_counts}")
    data_dir = os.path.join(work_dir, "data_captions")
    part["conversion"] = conversion = convert("captions", [
        "--dataset=coco_captions", f"--captions_json={made.captions_json}", f"--image_dir={made.image_dir}",
        f"--splits=val:{made.val_ids},test:{made.test_ids}"], data_dir, logs)
    conversion["vocabulary"] = inputs_lib.vocabulary_facts(data_dir)
    log(f"vocabulary: {conversion['vocabulary']}")
    disk.measure("caption conversion")
    progress.save()
    train_flagfiles(CAPTION_FLAGFILES, data_dir, work_dir, logs, 21, progress, part)
    disk.measure("caption training")
    model_dir = part["training"]["coco_caption_ours"]["model_dir"]
    part["evaluation"] = progress.phase("evaluation", evaluate, model_dir, data_dir, work_dir, logs)
    jpeg_dir = os.path.join(work_dir, "raw_captions", "jpegs")
    jpegs = sorted(os.path.join(jpeg_dir, name) for name in os.listdir(jpeg_dir))
    part["serving"] = progress.phase("export and serving", export_and_serve, model_dir, work_dir, logs, jpegs)
    disk.measure("evaluation and export")
    if not _KEEP_DATA.value:
        shutil.rmtree(data_dir)
        shutil.rmtree(os.path.join(work_dir, "raw_captions"))


def multilabel_part(work_dir: str, logs: str, disk: Disk, progress: Progress) -> None:
    """COCO multi-label: inputs, conversion (with the stand-in user tags), the two flagfiles' stages."""
    progress.result["multilabel"] = part = {}
    made = _timed_inputs(part, inputs_lib.make_multilabel_inputs, os.path.join(work_dir, "raw_multilabel"),
                         _DATA_ROOT.value, _MULTILABEL_IMAGES.value)
    log(f"multi-label inputs: {made.images} images, {made.annotations} object annotations")
    data_dir = os.path.join(work_dir, "data_multilabel")
    part["conversion"] = convert("multilabel", [
        "--dataset=coco_multilabel", f"--instances_json={','.join(made.instances_json)}",
        f"--image_dir={','.join(made.image_dirs)}", f"--user_tags_json={made.user_tags_json}"], data_dir, logs)
    disk.measure("multi-label conversion")
    progress.save()
    train_flagfiles(MULTILABEL_FLAGFILES, data_dir, work_dir, logs,
                    inputs_lib.longest_label_sequence(_DATA_ROOT.value), progress, part)
    disk.measure("multi-label training")
    if not _KEEP_DATA.value:
        shutil.rmtree(data_dir)
        shutil.rmtree(os.path.join(work_dir, "raw_multilabel"))


def merged_progress(paths: list) -> dict:
    """One result from the progress files of runs of different --parts (the first one's header).

    Each run's own header (load averages, wall and CPU seconds, disk, settings, command line) is
    kept under "runs"; the disk peak is the sum of the runs' peaks (they ran side by side).
    """
    results = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            results.append(json.load(handle))
    if len(results) == 1:
        return results[0]
    merged = dict(results[0])
    merged["runs"] = [{k: v for k, v in r.items() if k not in ("captions", "multilabel", "schedule")} for r in results]
    for result in results[1:]:
        for key in ("captions", "multilabel"):
            if key in result:
                merged[key] = result[key]
        merged.setdefault("errors", {}).update(result.get("errors", {}))
    merged["disk"] = {"peak_bytes": sum(r.get("disk", {}).get("peak_bytes", 0) for r in results),
                      "left_bytes": sum(r.get("disk", {}).get("left_bytes", 0) for r in results),
                      "points": [p for r in results for p in r.get("disk", {}).get("points", [])]}
    merged["wall_seconds"] = max(r.get("wall_seconds") or 0 for r in results)
    merged["cpu_seconds_children"] = round(sum(r.get("cpu_seconds_children") or 0 for r in results), 1)
    merged["load_average_end"] = results[-1].get("load_average_end")
    return merged


def write_report(result: dict) -> str:
    """paper_scale.json (with the schedule) and paper_scale.md into --results_dir; returns the Markdown."""
    result["schedule"] = report_lib.schedule(result)
    text = report_lib.markdown(result)
    os.makedirs(_RESULTS.value, exist_ok=True)
    atomic_files.write_json(os.path.join(_RESULTS.value, "paper_scale.json"), result)
    atomic_files.write_text(os.path.join(_RESULTS.value, "paper_scale.md"), text)
    return text


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _REPORT_ONLY.value:
        print(write_report(merged_progress(_REPORT_ONLY.value.split(","))))
        return 0
    if not _WORK_DIR.value:
        raise app.UsageError("--work_dir is required: a folder outside the project for the data and models")
    work_dir = os.path.abspath(_WORK_DIR.value)
    if (work_dir + os.sep).startswith(PROJECT_ROOT + os.sep):
        raise app.UsageError(f"--work_dir={work_dir} is inside the project tree; choose a folder outside it")
    if os.path.exists(work_dir) and os.listdir(work_dir):
        raise app.UsageError(f"--work_dir={work_dir} is not empty; pass a new or empty folder")
    missing = inputs_lib.missing_inputs(_DATA_ROOT.value)
    if missing:
        raise app.UsageError(f"--data_root={_DATA_ROOT.value} lacks {missing[0]}; pass the shared/data folder")
    for entry in _SKIP_STAGES.value:
        if entry.split(":")[0] not in CAPTION_FLAGFILES + MULTILABEL_FLAGFILES or ":" not in entry:
            raise app.UsageError(f"--skip_stages={entry}: use FLAGFILE:STAGE with a flagfile of "
                                 f"{', '.join(CAPTION_FLAGFILES + MULTILABEL_FLAGFILES)}")
    unknown = set(_PARTS.value) - {"captions", "multilabel"}
    if unknown:
        raise app.UsageError(f"--parts: unknown {sorted(unknown)}; use captions and/or multilabel")
    logs = os.path.join(work_dir, "logs")
    os.makedirs(logs)
    started, cpu_started = time.perf_counter(), os.times()
    progress = Progress(os.path.join(work_dir, "paper_scale_progress.json"), {
        "load_average_start": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
        "pixels": "stand-ins: every image is a hard link to one of 12 real COCO JPEGs; no accuracy measured",
        "settings": {"steps": _STEPS.value, "head_steps": _HEAD_STEPS.value,
                     "image_free_steps": _IMAGE_FREE_STEPS.value, "eval_images": _EVAL_IMAGES.value,
                     "caption_images_per_split": _CAPTION_IMAGES.value,
                     "multilabel_images_per_set": _MULTILABEL_IMAGES.value, "skip_stages": _SKIP_STAGES.value},
        "argv": sys.argv[1:]})
    result = progress.result
    disk = Disk(work_dir, result)
    if "captions" in _PARTS.value:
        caption_part(work_dir, logs, disk, progress)
        result["load_average_after_captions"] = [round(v, 2) for v in os.getloadavg()]
    if "multilabel" in _PARTS.value:
        multilabel_part(work_dir, logs, disk, progress)
    ended = os.times()
    result.update({
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds_children": round(ended.children_user + ended.children_system
                                      - cpu_started.children_user - cpu_started.children_system, 1),
    })
    result["disk"]["left_bytes"] = disk_bytes(work_dir)
    progress.save()
    print(write_report(result))
    print(json.dumps(result, sort_keys=True, default=str), flush=True)
    return 1 if progress.failed else 0


if __name__ == "__main__":
    app.run(main)
