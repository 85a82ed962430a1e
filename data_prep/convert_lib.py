"""The conversion job as a library call: read a source, build vocabularies, write shards.

`convert(options)` is what `s-cnn-rnn-convert` and `s-cnn-rnn-demo` call. The output
appears all at once: everything is written into `OUTPUT_DIR.tmp-<pid>` beside the output
and renamed into place only after the manifest is written; Ctrl-C, SIGTERM or an error
remove it (`staging.py`), and a later run removes the ones of runs that were killed outright.
The output may never be, contain or lie inside an input, and `--overwrite` replaces only an
earlier converted data dir (`s_cnn_rnn/output_guard.py`).
"""

import collections
import datetime
import os
import shutil

from absl import logging

from data_prep.convert_options import ConvertOptions
from data_prep import shard_writer
from data_prep import staging
from data_prep import vocab_builder
from data_prep.sources import base
from data_prep.sources import coco
from data_prep.sources import coco_tags
from data_prep.sources import nuswide
from data_prep.sources import splits as splits_lib
from s_cnn_rnn import atomic_files
from s_cnn_rnn import errors
from s_cnn_rnn import record_schema
from s_cnn_rnn import output_guard

# Datasets whose records serve captioning: an image without a usable caption is skipped.
_CAPTION_DATASETS = ("synthetic", "coco_captions", "tfds_coco_captions")


class ConversionError(errors.UserError, RuntimeError):
    """The conversion cannot start or finish; the message says what to change."""


def input_paths(options: ConvertOptions) -> list[tuple[str, str]]:
    """(flag, path) of every file or folder the conversion reads: the output must stay clear of them."""
    inputs = [("--image_dir", path) for path in options.image_dirs or ()]
    for flag, paths in (("--captions_json", options.captions_json), ("--instances_json", options.instances_json)):
        inputs.extend((flag, path) for path in paths or ())
    for flag in ("labels_json", "labels_npz", "nuswide_dir", "nuswide_annotations_json", "concepts_file",
                 "tag_list_file", "tfds_data_dir"):
        inputs.append((f"--{flag}", getattr(options, flag)))
    inputs.extend(("--splits", entry.path) for entry in splits_lib.parse_split_entries(options.splits))
    return [(flag, path) for flag, path in inputs if path]


def _check_output_dir(options: ConvertOptions) -> None:
    try:
        output_guard.check_output_dir(options.output_dir, input_paths(options), output_guard.DATA_DIR,
                                      options.overwrite)
    except output_guard.UnsafeOutputError as error:
        raise ConversionError(str(error)) from None


def _read_source(options: ConvertOptions, staging_dir: str) -> base.SourceData:
    """Dispatches to the dataset's reader. Raises AnnotationError before any image work."""
    if options.user_tags_json and options.dataset != "coco_multilabel":
        raise ConversionError("--user_tags_json is read by --dataset=coco_multilabel only.")
    split_of = splits_lib.parse_splits_flag(options.splits) if options.splits else None
    image_dirs = [os.path.abspath(d) for d in options.image_dirs] if options.image_dirs else None
    if options.dataset == "synthetic":
        from data_prep import synthetic  # pylint: disable=import-outside-toplevel
        from data_prep.sources import synthetic as synthetic_source  # pylint: disable=import-outside-toplevel

        raw_dir = os.path.join(staging_dir, "raw")
        num_train, num_val, num_test = options.synthetic_sizes
        synthetic.generate(
            raw_dir,
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            image_size=options.synthetic_image_size,
            seed=options.seed,
            num_workers=options.num_workers or None,
        )
        return synthetic_source.read_synthetic(raw_dir)
    if options.dataset == "coco_captions":
        if not options.captions_json:
            raise ConversionError("--dataset=coco_captions needs --captions_json=FILE[,FILE].")
        return coco.read_coco_captions(options.captions_json, image_dirs, split_of)
    if options.dataset == "coco_multilabel":
        return coco.read_coco_multilabel(
            instances_json=options.instances_json,
            labels_json=options.labels_json,
            labels_npz=options.labels_npz,
            image_dirs=image_dirs,
            splits=split_of,
            captions_json=options.captions_json,
            user_tags_json=options.user_tags_json,
        )
    if options.dataset == "nuswide":
        return nuswide.read_nuswide(
            nuswide_dir=options.nuswide_dir,
            annotations_json=options.nuswide_annotations_json,
            image_dir=image_dirs[0] if image_dirs else None,
            splits=split_of,
            concepts_file=options.concepts_file,
            tag_list_file=options.tag_list_file,
        )
    if options.dataset == "tfds_coco_captions":
        from data_prep.sources import tfds_coco  # pylint: disable=import-outside-toplevel

        if not options.tfds_data_dir:
            raise ConversionError("--dataset=tfds_coco_captions needs --tfds_data_dir=DIR (prepared).")
        return tfds_coco.read_tfds_coco_captions(
            options.tfds_data_dir, os.path.join(staging_dir, "_tfds_images")
        )
    raise ConversionError(f"unknown --dataset={options.dataset}")


def _items_by_split(items: list[base.RawItem]) -> dict[str, list[base.RawItem]]:
    grouped = collections.defaultdict(list)
    for item in items:
        grouped[item.split].append(item)
    return dict(grouped)


def _vocabulary_entries(vocabularies) -> dict:
    entries = {}
    for name, path in (
        ("words", record_schema.WORDS_FILE),
        ("concepts", record_schema.CONCEPTS_FILE),
        ("labels", record_schema.LABELS_FILE),
        ("tags", record_schema.TAGS_FILE),
    ):
        vocabulary = getattr(vocabularies, name)
        entries[name] = {"file": path, "size": len(vocabulary), "fingerprint": vocabulary.fingerprint()}
    return entries


def convert(options: ConvertOptions) -> dict:
    """Runs the whole conversion; returns the manifest that was written.

    Raises:
      AnnotationError: a missing or malformed annotation file, or a split file that matches no
        image (nothing written).
      ConversionError: bad options, an output that is (in) an input or not ours, an existing
        output without --overwrite, or no train item.
      staging.Terminated: SIGTERM (after the staging dir was removed), like KeyboardInterrupt.
    """
    _check_output_dir(options)
    output_dir = os.path.abspath(options.output_dir.rstrip("/"))
    warnings = []
    for message in staging.remove_stale(output_dir):
        logging.warning("%s", message)
    with staging.sigterm_raises():
        staging_dir = staging.create(output_dir)
        try:
            os.makedirs(os.path.join(staging_dir, record_schema.VOCAB_DIR))
            source = _read_source(options, staging_dir)
            split_files = _split_file_coverage(options, source, warnings)
            _warn_repeats(source, warnings)
            if not any(item.split == "train" for item in source.items):
                raise ConversionError(_no_train_message(options, source))
            vocabularies = vocab_builder.build_vocabularies(
                source,
                max_words=options.max_words,
                min_word_count=options.min_word_count,
                num_concepts=options.num_concepts,
                max_tags=options.num_user_tags if options.user_tags_json else None,
            )
            _check_word_vocabulary(options, source, vocabularies)
            vocabularies.save(staging_dir)
            items_by_split = _items_by_split(source.items)
            num_workers = shard_writer.worker_count(options.num_workers, len(source.items))
            tasks = shard_writer.plan_shards(
                items_by_split,
                staging_dir,
                vocabularies,
                require_captions=options.dataset in _CAPTION_DATASETS,
                examples_per_shard=options.examples_per_shard,
                num_workers=max(num_workers, 1),
            )
            results = shard_writer.write_shards(tasks, num_workers, options.show_progress)
            shutil.rmtree(os.path.join(staging_dir, "_tfds_images"), ignore_errors=True)
            manifest = _manifest(options, source, vocabularies, results, staging_dir)
            manifest.update(split_files=split_files, warnings=warnings)
            atomic_files.write_json(os.path.join(staging_dir, record_schema.MANIFEST_FILE), manifest)
            staging.unmark(staging_dir)
            atomic_files.publish_dir(staging_dir, output_dir)
        except BaseException:
            shutil.rmtree(staging_dir, ignore_errors=True)
            raise
    return manifest


def _no_train_message(options: ConvertOptions, source: base.SourceData) -> str:
    """Why no image went to train, in terms of the flags the user gave."""
    splits = collections.Counter(item.split for item in source.items)
    found = ", ".join(f"{count} in {split}" for split, count in sorted(splits.items())) or "no image at all"
    if options.splits:
        advice = "check --splits (images in no listed file go to train)"
    elif options.dataset == "coco_multilabel":
        advice = ("without --splits, train2014 images go to train and val2014 images to test: add the train2014 "
                  "annotations and images, or give --splits=NAME:IDS_FILE for the held-out images (the rest "
                  "go to train)")
    else:
        advice = "give --splits=NAME:IDS_FILE for the held-out images (the rest go to train)"
    return f"no image is in the train split ({found}), so no vocabulary can be built: {advice}."


def _check_word_vocabulary(options: ConvertOptions, source: base.SourceData, vocabularies) -> None:
    """Refuses captions whose word vocabulary kept no word: every caption would become `<unk>`.

    Raises:
      ConversionError: naming --min_word_count and the count of the most frequent train word.
    """
    if len(vocabularies.words) > len(record_schema.WORD_SPECIALS):
        return
    word_counts, _ = vocab_builder.count_caption_words([item for item in source.items if item.split == "train"])
    if word_counts:
        raise ConversionError(
            f"--min_word_count={options.min_word_count} keeps none of the {len(word_counts)} train words (the most "
            f"frequent occurs {max(word_counts.values())} times): every caption would be <unk>; lower it")


def _warn_repeats(source: base.SourceData, warnings: list[str]) -> None:
    """Adds (and logs) a warning when some captions repeat an identical caption of their image."""
    if source.repeated:
        first = source.repeated[0]
        extra = sum(entry["times"] - 1 for entry in source.repeated)
        warnings.append(
            f"{extra} caption(s) repeat an identical caption of the same image (e.g. image {first['id']}: "
            f"{first['caption']!r}, {first['times']} times; all in manifest.json 'repeated_annotations'); each copy "
            "counts in the word counts: check that no annotation file was given twice under two names")
        logging.warning("%s", warnings[-1])


def _split_file_coverage(options: ConvertOptions, source: base.SourceData, warnings: list[str]) -> list[dict]:
    """Found/listed ids per --splits file; a partly matching file adds a warning (logged too).

    Raises:
      AnnotationError: a split file that matches no image of the dataset.
    """
    known = {item.image_id for item in source.items}
    known.update(entry["id"] for entry in source.skipped if isinstance(entry.get("id"), int))
    coverage = splits_lib.split_file_coverage(options.splits, known)
    for entry in coverage:
        if entry["found"] < entry["listed"]:
            warnings.append(
                f"--splits {entry['split']}:{entry['file']}: only {entry['found']} of its {entry['listed']} ids "
                "are images of the dataset; the others were ignored"
            )
            logging.warning("%s", warnings[-1])
    return coverage


def _manifest(options, source, vocabularies, results, staging_dir) -> dict:
    splits = collections.defaultdict(lambda: {"num_examples": 0, "shards": []})
    skipped = list(source.skipped)
    for result in results:
        split = splits[result.split]
        split["num_examples"] += result.num_examples
        split["shards"].append(os.path.relpath(result.path, staging_dir))
        skipped.extend(result.skipped)
    return {
        "dataset": options.dataset,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "has_images": options.dataset in ("synthetic", "tfds_coco_captions") or bool(options.image_dirs),
        "splits": dict(splits),
        "skipped": skipped,
        "repeated_annotations": source.repeated,
        "vocabularies": _vocabulary_entries(vocabularies),
        "options": {
            "max_words": options.max_words,
            "min_word_count": options.min_word_count,
            "num_concepts": options.num_concepts,
            "seed": options.seed,
            "splits": options.splits,
        },
        **({"user_tags": coco_tags.tag_counts(options.user_tags_json, source.items)}
           if options.user_tags_json else {}),
    }


def summary_line(manifest: dict) -> str:
    """One line: examples per split, skips counted by reason, ids found per --splits file, warnings."""
    split_text = ", ".join(f"{name} {info['num_examples']}" for name, info in sorted(manifest["splits"].items()))
    reasons = collections.Counter(
        f"{entry['kind']}: {entry['reason'].split(' (')[0].split(':')[0]}" for entry in manifest["skipped"]
    )
    skip_text = "; ".join(f"{count} x {reason}" for reason, count in reasons.most_common())
    return (
        f"converted {sum(i['num_examples'] for i in manifest['splits'].values())} images ({split_text}); "
        f"skipped {len(manifest['skipped'])}" + (f" ({skip_text})" if skip_text else "")
        + "".join(f"; --splits {entry['split']}: {entry['found']} of {entry['listed']} ids found"
                  for entry in manifest.get("split_files", []))
        + (f"; {len(manifest.get('warnings', []))} warning(s)" if manifest.get("warnings") else "")
        + " -- see manifest.json"
    )
