"""Mistakes that once gave a silently wrong result: each now gets one clear line (exit status 2)."""

import json
import os

import pytest

import serving_fixtures
from command_runner import run_command


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


def _predict(capsys, *args):
    return run_command("s_cnn_rnn.predict", "s-cnn-rnn-predict", list(args), capsys)


def _tags_file(folder, name: str, content: dict) -> str:
    path = folder / name
    path.write_text(json.dumps(content))
    return str(path)


def test_a_tag_model_refuses_images_without_tags(tag_model, capsys):
    model_dir, images, tags = tag_model["model_dir"], tag_model["images"], tag_model["tags"]
    no_file = _predict(capsys, f"--model_dir={model_dir}", *images)
    assert no_file.code == 2 and no_file.out == ""
    assert no_file.error_lines() == no_file.err.strip().splitlines()  # one line, no traceback
    assert "--tags_json" in no_file.err and "--allow_untagged" in no_file.err

    # One image named, the other one with only tags the model does not know.
    partial = _tags_file(tag_model["folder"], "partial.json",
                         {os.path.basename(images[0]): [tags[0]], images[1]: ["no-such-tag"]})
    refused = _predict(capsys, f"--model_dir={model_dir}", f"--tags_json={partial}", *images)
    assert refused.code == 2 and refused.out == ""
    assert len(refused.err.strip().splitlines()) == 1
    assert "1 of 2 images" in refused.err and images[1] in refused.err and images[0] not in refused.err

    allowed = _predict(capsys, f"--model_dir={model_dir}", f"--tags_json={partial}", "--allow_untagged", *images)
    assert allowed.code == 0 and all(path in allowed.out for path in images)
    assert "1 of 2 images have no tag" in allowed.log

    full = _tags_file(tag_model["folder"], "full.json", {images[0]: [tags[0]], images[1]: [tags[1], "unknown"]})
    tagged = _predict(capsys, f"--model_dir={model_dir}", f"--tags_json={full}", *images)
    assert tagged.code == 0 and tagged.error_lines() == []


def test_tags_given_to_a_model_without_tags_are_reported(tiny_synthetic_data, tag_model, capsys):
    model_dir = serving_fixtures.make_model_dir(tiny_synthetic_data, str(tag_model["folder"] / "plain"), "multilabel")
    tags_json = _tags_file(tag_model["folder"], "ignored.json", {tag_model["images"][0]: [tag_model["tags"][0]]})
    done = _predict(capsys, f"--model_dir={model_dir}", f"--tags_json={tags_json}",
                    tag_model["images"][0])
    assert done.code == 0
    assert "the model uses no tags" in done.log and "ignored" in done.log


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


def test_convert_refuses_an_annotation_file_given_twice(tmp_path, capsys):
    captions = _captions_file(tmp_path, "captions.json")
    os.symlink(captions, tmp_path / "same.json")
    for twice in (f"{captions},{captions}", f"{captions},{tmp_path / 'same.json'}"):
        done = run_command("data_prep.convert", "s-cnn-rnn-convert",
                           ["--dataset=coco_captions", f"--captions_json={twice}", f"--output_dir={tmp_path / 'out'}",
                            "--num_workers=0", "--noprogress"], capsys)
        assert done.code == 2, done.err
        lines = done.err.strip().splitlines()
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


def test_score_captions_refuses_results_for_part_of_the_references(tmp_path, capsys, monkeypatch):
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
    refused = run_command("s_cnn_rnn.score_captions", "s-cnn-rnn-score-captions", args, capsys)
    assert refused.code == 2 and refused.out == ""
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and "covers 2 of the 4 images" in lines[0] and "--allow_partial" in lines[0], lines
    assert "2, 4" in lines[0]  # the images without a caption are named

    partial = run_command("s_cnn_rnn.score_captions", "s-cnn-rnn-score-captions", [*args, "--allow_partial"], capsys)
    assert partial.code == 0, partial.err
    assert json.loads(partial.out)["coverage"] == {"scored_images": 2, "reference_images": 4}
    assert "the results cover 2 of the 4 reference images" in partial.log


def test_convert_refuses_a_word_vocabulary_of_specials_only(tmp_path, capsys):
    captions = _captions_file(tmp_path, "captions.json")  # "a" occurs 36 times, the most
    done = run_command("data_prep.convert", "s-cnn-rnn-convert",
                       ["--dataset=coco_captions", f"--captions_json={captions}", f"--output_dir={tmp_path / 'out'}",
                        "--min_word_count=37", "--num_workers=0", "--noprogress"], capsys)
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert len(lines) == 1 and "--min_word_count=37 keeps none of the" in lines[0], lines
    assert "occurs 36 times" in lines[0]
    assert not (tmp_path / "out").exists() and os.listdir(tmp_path) == ["captions.json"]  # no staging dir left
