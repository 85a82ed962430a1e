"""The input-making step of `bench/paper_scale.py`, at a tiny size, converted by the project's converter.

Needs the real annotations (`../shared/data`); skips with a message where they are absent.
"""

import json
import os

import numpy as np

from bench import paper_scale_inputs
from data_prep import convert_lib


def test_caption_inputs_are_the_real_file_with_linked_stand_ins(tmp_path, shared_data_dir):
    made = paper_scale_inputs.make_caption_inputs(str(tmp_path / "raw"), str(shared_data_dir), images_per_split=4)
    assert made.split_counts == {"train": 4, "val": 4, "test": 4}
    with open(made.captions_json, encoding="utf-8") as handle:
        document = json.load(handle)
    assert len(document["images"]) == 12 and made.captions == len(document["annotations"]) >= 12 * 5
    assert {a["image_id"] for a in document["annotations"]} == {i["id"] for i in document["images"]}
    jpegs = sorted(os.listdir(tmp_path / "raw" / "jpegs"))
    assert len(jpegs) == 12
    for image in document["images"]:  # every image a hard link to one of the 12 real JPEGs
        path = os.path.join(made.image_dir, image["file_name"])
        assert os.stat(path).st_nlink >= 2
        assert any(os.path.samefile(path, tmp_path / "raw" / "jpegs" / name) for name in jpegs)

    data_dir = str(tmp_path / "data")
    manifest = convert_lib.convert(convert_lib.ConvertOptions(
        dataset="coco_captions", output_dir=data_dir, captions_json=[made.captions_json], image_dirs=[made.image_dir],
        splits=f"val:{made.val_ids},test:{made.test_ids}", num_workers=0, show_progress=False))
    assert {name: split["num_examples"] for name, split in manifest["splits"].items()} == made.split_counts
    facts = paper_scale_inputs.vocabulary_facts(data_dir)
    with open(os.path.join(data_dir, "vocab", "words.txt"), encoding="utf-8") as handle:
        assert facts["words"] == sum(1 for _ in handle)
    assert 0.0 < facts["top1000_share"] <= 1.0  # 4 train images have fewer than 1,000 distinct words


def test_multilabel_inputs_carry_the_real_label_matrix(tmp_path, shared_data_dir):
    made = paper_scale_inputs.make_multilabel_inputs(str(tmp_path / "raw"), str(shared_data_dir), images_per_set=5)
    assert made.images == {"train2014": 5, "val2014": 5}
    arrays = np.load(shared_data_dir / "coco_multilabel" / "coco2014_multilabel80.npz")
    row_of = {int(i): row for row, i in enumerate(arrays["image_id"])}
    with open(made.user_tags_json, encoding="utf-8") as handle:
        tags = json.load(handle)
    for path, image_dir in zip(made.instances_json, made.image_dirs):
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        assert len(document["categories"]) == 80
        for image in document["images"]:
            expected = {int(arrays["category_id"][c]) for c in np.flatnonzero(arrays["labels"][row_of[image["id"]]])}
            assert {a["category_id"] for a in document["annotations"] if a["image_id"] == image["id"]} == expected
            assert os.stat(os.path.join(image_dir, image["file_name"])).st_nlink >= 2
            assert tags[str(image["id"])]

    data_dir = str(tmp_path / "data")
    manifest = convert_lib.convert(convert_lib.ConvertOptions(
        dataset="coco_multilabel", output_dir=data_dir, instances_json=made.instances_json, image_dirs=made.image_dirs,
        user_tags_json=made.user_tags_json, num_workers=0, show_progress=False))
    assert {name: split["num_examples"] for name, split in manifest["splits"].items()} == {"train": 5, "test": 5}
    assert paper_scale_inputs.longest_label_sequence(str(shared_data_dir)) > 10
