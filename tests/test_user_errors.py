"""Mistakes that once gave a silently wrong result: each now gets one clear line (exit status 2)."""

import json
import os

import pytest

import serving_fixtures
from tests import cli_runner


# ----------------------------------------------------------------------------- predict with a tag model


@pytest.fixture(scope="module")
def tag_model(tiny_synthetic_data, tmp_path_factory) -> dict:
    """An (untrained) use_tags model dir, two JPEGs and their known tags."""
    folder = tmp_path_factory.mktemp("tag_model")
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(folder / "model"), "multilabel",
                                                use_tags=True)
    images = []
    for index, record in enumerate(serving_fixtures.record_images(tiny_synthetic_data, count=2)):
        images.append(str(folder / f"photo{index}.jpg"))
        with open(images[-1], "wb") as handle:
            handle.write(record["jpeg"])
    with open(os.path.join(model_dir, "vocab", "tags.txt"), encoding="utf-8") as handle:
        tags = [line.split("\t")[0].strip() for line in handle if line.strip()]
    return {"model_dir": model_dir, "images": images, "tags": tags, "folder": folder}


def _predict(*args):
    return cli_runner.run("s_cnn_rnn.predict", *args)


def _tags_file(folder, name: str, content: dict) -> str:
    path = folder / name
    path.write_text(json.dumps(content))
    return str(path)


def test_a_tag_model_refuses_images_without_tags(tag_model):
    model_dir, images, tags = tag_model["model_dir"], tag_model["images"], tag_model["tags"]
    no_file = _predict(f"--model_dir={model_dir}", *images)
    assert no_file.returncode == 2 and no_file.stdout == ""
    assert no_file.stderr.strip().splitlines() == [no_file.stderr.strip()] and ": error: " in no_file.stderr  # one line, no traceback
    assert "--tags_json" in no_file.stderr and "--allow_untagged" in no_file.stderr

    # One image named, the other one with only tags the model does not know.
    partial = _tags_file(tag_model["folder"], "partial.json",
                         {os.path.basename(images[0]): [tags[0]], images[1]: ["no-such-tag"]})
    refused = _predict(f"--model_dir={model_dir}", f"--tags_json={partial}", *images)
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "1 of 2 images" in refused.stderr and images[1] in refused.stderr and images[0] not in refused.stderr

    allowed = _predict(f"--model_dir={model_dir}", f"--tags_json={partial}", "--allow_untagged", *images)
    assert allowed.returncode == 0 and all(path in allowed.stdout for path in images)
    assert "1 of 2 images have no tag" in allowed.stderr

    full = _tags_file(tag_model["folder"], "full.json", {images[0]: [tags[0]], images[1]: [tags[1], "unknown"]})
    tagged = _predict(f"--model_dir={model_dir}", f"--tags_json={full}", *images)
    assert tagged.returncode == 0 and ": error: " not in tagged.stderr


def test_tags_given_to_a_model_without_tags_are_reported(tiny_synthetic_data, tag_model):
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tag_model["folder"] / "plain"), "multilabel")
    tags_json = _tags_file(tag_model["folder"], "ignored.json", {tag_model["images"][0]: [tag_model["tags"][0]]})
    done = _predict(f"--model_dir={model_dir}", f"--tags_json={tags_json}",
                    tag_model["images"][0])
    assert done.returncode == 0
    assert "the model uses no tags" in done.stderr and "ignored" in done.stderr


# ----------------------------------------------------------------------------- convert: annotations counted twice


def _captions_file(folder, name: str, repeat_one: bool = False) -> str:
    images = [{"id": image_id, "file_name": f"COCO_{image_id:012d}.jpg"} for image_id in range(1, 7)]
    annotations = [{"image_id": image_id, "caption": f"a {word} on a table"}
                   for image_id in range(1, 7) for word in ("dog", "cat", f"thing{image_id}")]
    if repeat_one:
        annotations.append({"image_id": 2, "caption": "a dog on a table"})
    path = folder / name
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return str(path)


def test_convert_refuses_an_annotation_file_given_twice(tmp_path):
    captions = _captions_file(tmp_path, "captions.json")
    os.symlink(captions, tmp_path / "same.json")
    for twice in (f"{captions},{captions}", f"{captions},{tmp_path / 'same.json'}"):
        done = cli_runner.run("data_prep.convert", "--dataset=coco_captions", f"--captions_json={twice}", f"--output_dir={tmp_path / 'out'}",
                            "--num_workers=0", "--noprogress")
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("s-cnn-rnn-convert: error: --captions_json"), lines
        assert "twice" in lines[0]
    assert not (tmp_path / "out").exists()


def test_convert_reports_repeated_identical_captions(tmp_path):
    from data_prep import convert_lib  # pylint: disable=import-outside-toplevel

    def convert(name, repeat_one):
        return convert_lib.convert(convert_lib.ConvertOptions(
            dataset="coco_captions", output_dir=str(tmp_path / name), num_workers=0, show_progress=False,
            captions_json=[_captions_file(tmp_path, f"{name}.json", repeat_one)], num_concepts=3))

    assert convert("clean", False)["repeated_annotations"] == []
    manifest = convert("repeats", True)
    assert manifest["repeated_annotations"] == [{"id": 2, "caption": "a dog on a table", "times": 2}]
    assert any("1 caption(s) repeat an identical caption" in warning for warning in manifest["warnings"])
    with open(tmp_path / "repeats" / "manifest.json", encoding="utf-8") as handle:
        assert json.load(handle)["repeated_annotations"] == manifest["repeated_annotations"]


# ----------------------------------------------------------------------------- score-captions: partial results


def test_score_captions_refuses_results_for_part_of_the_references(tmp_path, monkeypatch):
    from s_cnn_rnn.metrics import caption_scores  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(caption_scores, "find_java", lambda: None)  # no JVM start-up: Python tokenizer
    references = tmp_path / "refs.json"
    references.write_text(json.dumps({"annotations": [
        {"image_id": image_id, "caption": caption} for image_id in (1, 2, 3, 4)
        for caption in (f"a dog number {image_id} on grass", "a dog on the grass")]}))
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 1, "caption": "a dog on grass"},
                                   {"image_id": 3, "caption": "a cat"}]))
    args = [f"--references={references}", f"--results={results}"]
    refused = cli_runner.run("s_cnn_rnn.score_captions", *args)
    assert refused.returncode == 2 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "covers 2 of the 4 images" in lines[0] and "--allow_partial" in lines[0], lines
    assert "2, 4" in lines[0]  # the images without a caption are named

    partial = cli_runner.run("s_cnn_rnn.score_captions", *args, "--allow_partial")
    assert partial.returncode == 0, partial.stderr
    assert json.loads(partial.stdout)["coverage"] == {"scored_images": 2, "reference_images": 4}


def test_convert_refuses_a_word_vocabulary_of_specials_only(tmp_path):
    captions = _captions_file(tmp_path, "captions.json")  # "a" occurs 36 times, the most
    done = cli_runner.run("data_prep.convert", "--dataset=coco_captions", f"--captions_json={captions}", f"--output_dir={tmp_path / 'out'}",
                        "--min_word_count=37", "--num_workers=0", "--noprogress")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--min_word_count=37 keeps none of the" in lines[0], lines
    assert "occurs 36 times" in lines[0]
    assert not (tmp_path / "out").exists() and os.listdir(tmp_path) == ["captions.json"]  # no staging dir left


# ----------------------------------------------------------------------------- messages that name the right fix


def test_all_images_in_val2014_explains_the_default_split_not_splits(tmp_path):
    from data_prep import convert_lib  # pylint: disable=import-outside-toplevel

    instances = tmp_path / "instances_val2014.json"
    instances.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in (1, 2, 3)],
        "annotations": [{"image_id": i, "category_id": 1 + i % 2} for i in (1, 2, 3)],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]}))
    with pytest.raises(convert_lib.ConversionError) as refused:
        convert_lib.convert(convert_lib.ConvertOptions(dataset="coco_multilabel", output_dir=str(tmp_path / "out"),
                                                       instances_json=[str(instances)], num_workers=0,
                                                       show_progress=False))
    message = str(refused.value)
    assert "(3 in test)" in message and "val2014 images to test" in message
    assert "check --splits" not in message


def test_a_model_without_checkpoints_is_not_told_to_pass_the_default(tiny_synthetic_data, tmp_path):
    import shutil  # pylint: disable=import-outside-toplevel

    from s_cnn_rnn import inference  # pylint: disable=import-outside-toplevel

    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tmp_path / "model"), "multilabel",
                                                variant="cnn_logistic")
    shutil.rmtree(tmp_path / "model" / "joint")
    for which, suggested in (("best", False), ("7", True)):
        with pytest.raises(FileNotFoundError) as missing:
            inference.load_trained_model(model_dir, which)
        assert ("--checkpoint=best|latest" in str(missing.value)) == suggested, str(missing.value)
