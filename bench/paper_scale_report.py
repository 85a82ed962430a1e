"""The schedule and the Markdown tables of `bench/paper_scale.py`'s measurements (no TensorFlow).

The schedule: per stage of each flagfile, the measured cost per step on this CPU times the
flagfile's steps, and the training FLOPs per step times the steps, from which a user divides by
their accelerator's sustained FLOP/s. The paper's reference point: the captioning schedule took
two days on one Titan X (Sec. 5.1).
"""

PAPER_CAPTION_SECONDS = 2 * 86400.0  # "two days on one Titan X"
_DAY = 86400.0


def _phase(stage_result: dict, key: str) -> dict:
    """The measured phase of a schedule key: "cnn_head" -> the cnn stage's head phase."""
    phases = stage_result["phases"]
    return phases.get("head" if key == "cnn_head" else "all") or {}


def schedule(result: dict) -> dict:
    """{flagfile: {"rows": [...], totals}} from a result of `paper_scale.main`.

    A stage that was not run (`--skip_stages`) takes its cost per step from the same stage of the
    part's first flagfile that ran it (row "measured_in"): the models differ only in small parts
    (NIC-F's bridge, the tag MLP), whose FLOPs the row still counts.
    """
    table = {}
    for part in ("captions", "multilabel"):
        trainings = result.get(part, {}).get("training", {})
        measured_stages = {}
        for flagfile, trained in trainings.items():
            for stage in trained["stages"]:
                measured_stages.setdefault(stage["stage"], (flagfile, stage))
        for flagfile, trained in trainings.items():
            by_stage = {stage["stage"]: (flagfile, stage) for stage in trained["stages"]}
            rows = []
            for key, steps in trained["paper"]["steps"].items():
                stage_name = key.replace("_head", "")
                source, stage_result = by_stage.get(stage_name) or measured_stages.get(stage_name, (None, None))
                measured = _phase(stage_result, key) if stage_result else {}
                flops = (trained.get("flops") or {}).get("train_step", {}).get(key)
                cpu, wall = measured.get("cpu_per_step"), measured.get("wall_per_step")
                rows.append({"stage": key, "steps": steps,
                             "gflops_per_step": None if flops is None else round(flops / 1e9, 1),
                             "cpu_per_step": cpu, "wall_per_step": wall, "measured_in": source,
                             "cpu_days": None if cpu is None else round(cpu * steps / _DAY, 2),
                             "wall_days": None if wall is None else round(wall * steps / _DAY, 2),
                             "pflops": None if flops is None else round(flops * steps / 1e15, 2)})
            total_flops = sum(r["pflops"] or 0 for r in rows) * 1e15
            entry = {"rows": rows, "pflops": round(total_flops / 1e15, 1),
                     "cpu_days": round(sum(r["cpu_days"] or 0 for r in rows), 1),
                     "wall_days": round(sum(r["wall_days"] or 0 for r in rows), 1)}
            if part == "captions":
                entry["implied_tflops_in_two_days"] = round(total_flops / PAPER_CAPTION_SECONDS / 1e12, 2)
            table[flagfile] = entry
    return table


def _gb(value) -> str:
    return f"{value / 1e9:.2f}"


def _mb(value) -> str:
    return f"{value / 1e6:.0f}"


def _conversion_rows(result: dict) -> list[str]:
    lines = ["| dataset | images | wall s | images/s | CPU ms/image | peak MB | output GB |", "|---|---|---|---|---|---|---|"]
    for part in ("captions", "multilabel"):
        if part in result:
            c = result[part]["conversion"]
            lines.append(f"| {part} | {c['images']:,} | {c['wall_seconds']} | {c.get('images_per_second')} | "
                         f"{c.get('cpu_ms_per_image')} | {c['peak_memory_mb']} | {_gb(c['bytes'])} |")
    return lines


def _stage_rows(result: dict) -> list[str]:
    lines = ["| flagfile | stage | phase | s/step | CPU s/step | first step s | process wall s | peak MB | "
             "checkpoint MB |", "|---|---|---|---|---|---|---|---|---|"]
    for part in ("captions", "multilabel"):
        for flagfile, trained in result.get(part, {}).get("training", {}).items():
            for stage in trained["stages"]:
                for phase, cost in stage["phases"].items():
                    lines.append(f"| {flagfile} | {stage['stage']} | {phase} | {cost['wall_per_step']} | "
                                 f"{cost['cpu_per_step']} | {cost['first_step_wall']} | {stage['wall_seconds']} | "
                                 f"{stage['peak_memory_mb']} | {_mb(stage['checkpoint_bytes'])} |")
    return lines


def _schedule_rows(result: dict) -> list[str]:
    lines = ["| flagfile | stage | paper steps | GFLOPs/step | CPU s/step | CPU-days | days here (wall) | PFLOPs |",
             "|---|---|---|---|---|---|---|---|"]
    for flagfile, entry in result["schedule"].items():
        for row in entry["rows"]:
            cost = row["cpu_per_step"] if row["measured_in"] in (flagfile, None) else \
                f"{row['cpu_per_step']} (as {row['measured_in']})"
            lines.append(f"| {flagfile} | {row['stage']} | {row['steps']:,} | {row['gflops_per_step']} | "
                         f"{cost} | {row['cpu_days']} | {row['wall_days']} | {row['pflops']} |")
        lines.append(f"| {flagfile} | **total** | | | | **{entry['cpu_days']}** | **{entry['wall_days']}** | "
                     f"**{entry['pflops']}** |")
    return lines


def markdown(result: dict) -> str:
    """The measured tables (conversion, stages, evaluation and serving, schedule, disk)."""
    runs = result.get("runs", [result])
    lines = [f"Pixels: {result['pixels']}.", ""]
    for run in runs:
        lines.append(f"- `python bench/paper_scale.py {' '.join(run.get('argv', []))}`: load average "
                     f"{run['load_average_start']} at the start, {run.get('load_average_end')} at the end "
                     f"({run['cpus']} CPUs); wall {run.get('wall_seconds')} s, CPU of its commands "
                     f"{run.get('cpu_seconds_children')} s.")
    lines += ["", *_conversion_rows(result)]
    for name, error in result.get("errors", {}).items():
        lines.append(f"FAILED {name}: {error}")
    vocabulary = result.get("captions", {}).get("conversion", {}).get("vocabulary")
    if vocabulary:
        lines += ["", f"Vocabulary (train split): {vocabulary['words']:,} words, {vocabulary['concepts']:,} concepts; "
                      f"the 1,000 most frequent words cover {100 * vocabulary['top1000_share']:.2f}% of "
                      f"{vocabulary['train_word_occurrences']:,} train word occurrences (paper: about 92%)."]
    lines += ["", *_stage_rows(result)]
    e = result.get("captions", {}).get("evaluation")
    if e:
        lines += ["", "| evaluation | value |", "|---|---|",
                  f"| test images, beam 3 | {e['images']:,} |",
                  f"| load + decode s | {e['load_and_decode_seconds']} ({e['decode_seconds_per_image']} s/image) |",
                  f"| scoring s | {e['score_seconds']} |",
                  f"| evaluate process: wall s / CPU s / peak MB | {e['wall_seconds']} / {e['cpu_seconds']} / "
                  f"{e['peak_memory_mb']} |",
                  f"| mean caption words (untrained model) | {e['mean_caption_words']} |"]
    s = result.get("captions", {}).get("serving")
    if s:
        lines += ["", "| export and serving | value |", "|---|---|",
                  f"| export: wall s / peak MB / SavedModel MB | {s['export_wall_seconds']} / "
                  f"{s['export_peak_memory_mb']} / {_mb(s['saved_model_bytes'])} |",
                  f"| serve ({s['serve']['batch']} images): load s / first call s / second call s / peak MB | "
                  f"{s['serve']['load_seconds']} / {s['serve']['first_call_seconds']} / "
                  f"{s['serve']['second_call_seconds']} / {s['serve_peak_memory_mb']} |"]
    lines += ["", *_schedule_rows(result)]
    implied = {k: v["implied_tflops_in_two_days"] for k, v in result["schedule"].items()
               if "implied_tflops_in_two_days" in v}
    if implied:
        lines += ["", "Sustained TFLOP/s the paper's two days on one Titan X imply: "
                  + ", ".join(f"{k} {v}" for k, v in implied.items()) + "."]
    disk = result.get("disk", {})
    lines += ["", f"Disk: peak {_gb(disk.get('peak_bytes', 0))} GB under the work dir, "
                  f"{_gb(disk.get('left_bytes', 0))} GB left at the end; "
                  + ", ".join(f"{_gb(p['bytes'])} GB after {p['after']}" for p in disk.get("points", [])) + "."]
    return "\n".join(lines) + "\n"
