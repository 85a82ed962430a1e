"""Input pipeline and image preprocessing, against fixture records written in the documented format."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import record_fixtures
from s_cnn_rnn import record_schema
from s_cnn_rnn import image_preprocessing
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.input_pipeline import PipelineConfig
from s_cnn_rnn.models.config import ModelConfig

IMAGE_SIZE = 24  # tiny, so the tests stay fast


@pytest.fixture(scope="module")
def images():
    return record_fixtures.random_images(12, seed=1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, images):
    return record_fixtures.write_data_dir(
        str(tmp_path_factory.mktemp("records")), {"train": images, "val": images[:5], "empty": []}, num_shards=3
    )


def _config(**overrides):
    settings = dict(task="caption", batch_size=5, image_size=IMAGE_SIZE, preprocessing="tf", deterministic=True)
    settings.update(overrides)
    return PipelineConfig(**settings)


def _rows(dataset):
    """Batches -> one dict of numpy values per element."""
    rows = []
    for batch in dataset:
        batch = {key: value.numpy() for key, value in batch.items()}
        for index in range(len(batch["image_id"])):
            rows.append({key: value[index] for key, value in batch.items()})
    return rows


def _sequence(row):
    """The real tokens of a row's sequence, after checking its <start>/<end> framing and padding."""
    length = int(row["target_mask"].sum())
    np.testing.assert_array_equal(row["target_mask"][:length], 1.0)  # mask = a prefix of ones
    tokens = row["target_ids"][: length - 1].tolist()
    assert row["input_ids"][:length].tolist() == [record_schema.START_ID] + tokens
    assert row["target_ids"][length - 1] == record_schema.END_ID
    assert not row["input_ids"][length:].any() and not row["target_ids"][length:].any()
    return tokens


def _multi_hot(indices, depth):
    vector = np.zeros(depth, np.float32)
    vector[indices] = 1.0
    return vector


def test_caption_round_trip_every_field(data_dir, images):
    by_id = {image.image_id: image for image in images}
    rows = _rows(input_pipeline.make_dataset(data_dir, "train", _config(captions="all")))
    assert len(rows) == sum(len(image.captions) for image in images)
    seen, expected_images = collections.Counter(), {}
    for row in rows:
        source = by_id[int(row["image_id"])]
        tokens = _sequence(row)
        np.testing.assert_array_equal(row["concepts"], _multi_hot(source.concepts, 12))
        np.testing.assert_array_equal(row["tags"], _multi_hot(source.tags, 5))
        if source.image_id not in expected_images:
            expected_images[source.image_id] = image_preprocessing.decode_and_preprocess(
                source.jpeg, IMAGE_SIZE, "tf"
            ).numpy()
        np.testing.assert_allclose(row["image"], expected_images[source.image_id], atol=1e-6)
        seen[(source.image_id, tuple(tokens))] += 1
    expected = collections.Counter(
        (image.image_id, tuple(caption)) for image in images for caption in image.captions
    )
    assert seen == expected


def test_multilabel_round_trip(data_dir, images):
    by_id = {image.image_id: image for image in images}
    rows = _rows(input_pipeline.make_dataset(data_dir, "val", _config(task="multilabel", read_images=False)))
    assert sorted(int(row["image_id"]) for row in rows) == sorted(image.image_id for image in images[:5])
    for row in rows:
        source = by_id[int(row["image_id"])]
        label_tokens = [label + 3 for label in source.labels]
        assert _sequence(row) == label_tokens
        np.testing.assert_array_equal(row["concepts"], _multi_hot(source.labels, 6))
        assert "image" not in row


def test_sampling_covers_every_caption_over_epochs(data_dir, images):
    config = _config(read_images=False, training=True, batch_size=4)
    sampled = collections.defaultdict(set)
    for row in _rows(input_pipeline.make_dataset(data_dir, "train", config).take(3 * 40)):
        sampled[int(row["image_id"])].add(tuple(_sequence(row)))
    for image in images:
        assert sampled[image.image_id] == {tuple(caption) for caption in image.captions}


def test_deterministic_runs_are_identical_and_seed_matters(data_dir):
    config = _config(training=True, augment=True, flip=True, batch_size=4)

    def first_batches(config):
        return _rows(input_pipeline.make_dataset(data_dir, "train", config).take(4))

    run_a, run_b = first_batches(config), first_batches(config)
    for row_a, row_b in zip(run_a, run_b, strict=True):
        for key in row_a:
            np.testing.assert_array_equal(row_a[key], row_b[key])
    other_seed = first_batches(_config(training=True, augment=True, flip=True, batch_size=4, seed=7))
    assert [int(r["image_id"]) for r in other_seed] != [int(r["image_id"]) for r in run_a]


@pytest.mark.parametrize("overrides", [dict(augment=True), dict(read_images=False, captions="all")])
def test_skip_examples_resumes_the_same_stream(data_dir, overrides):
    config = _config(training=True, batch_size=3, **overrides)
    full = _rows(input_pipeline.make_dataset(data_dir, "train", config).take(6))
    resumed = _rows(input_pipeline.make_dataset(data_dir, "train", config, skip_examples=2 * 3).take(4))
    assert len(resumed) == len(full[6:]) == 12
    for row_full, row_resumed in zip(full[6:], resumed, strict=True):
        assert _sequence(row_full) == _sequence(row_resumed)  # T may differ: batch padding
        for key in ("image_id", "concepts", "tags", "image"):
            np.testing.assert_array_equal(row_full.get(key), row_resumed.get(key))


def test_eval_order_is_stable_and_training_shuffles(data_dir):
    def ids(config):
        return [int(row["image_id"]) for row in _rows(input_pipeline.make_dataset(data_dir, "train", config))]

    eval_ids = ids(_config(read_images=False))
    assert sorted(eval_ids) == list(range(1000, 1012)) and eval_ids == ids(_config(read_images=False))
    train_ids = ids(_config(read_images=False, training=True, repeat=False, drop_remainder=False))
    assert sorted(train_ids) == sorted(eval_ids) and train_ids != eval_ids


def test_captions_only_records_without_image_bytes(tmp_path):
    images = record_fixtures.random_images(4, seed=2, image_shape=None)
    data_dir = record_fixtures.write_data_dir(str(tmp_path), {"train": images}, has_images=False)
    rows = _rows(input_pipeline.make_dataset(data_dir, "train", _config(read_images=False)))
    assert sorted(int(row["image_id"]) for row in rows) == [image.image_id for image in images]
    with pytest.raises(ValueError, match="captions-only.*--image_dir"):
        input_pipeline.make_dataset(data_dir, "train", _config())
    assert input_pipeline.dataset_info(data_dir)["has_images"] is False


def test_empty_image_bytes_with_read_images_is_a_clear_error(tmp_path):
    images = record_fixtures.random_images(2, seed=3)
    images[1].jpeg = b""
    data_dir = record_fixtures.write_data_dir(str(tmp_path), {"train": images})
    with pytest.raises(tf.errors.InvalidArgumentError, match="no image bytes.*--image_dir"):
        _rows(input_pipeline.make_dataset(data_dir, "train", _config()))


def test_truncation_and_static_padding(data_dir, images):
    config = _config(read_images=False, captions="all", max_caption_length=3, pad_to_max_length=True)
    dataset = input_pipeline.make_dataset(data_dir, "train", config)
    assert dataset.element_spec["input_ids"].shape.as_list() == [None, 4]
    captions = {(image.image_id, tuple(caption[:3])) for image in images for caption in image.captions}
    for row in _rows(dataset):
        tokens = _sequence(row)
        assert len(tokens) <= 3 and (int(row["image_id"]), tuple(tokens)) in captions


def test_static_shapes_and_zero_tags(tmp_path):
    images = record_fixtures.random_images(6, seed=4, num_tags=0)
    data_dir = record_fixtures.write_data_dir(str(tmp_path), {"train": images}, num_tags=0)
    config = _config(training=True, batch_size=4)
    spec = input_pipeline.make_dataset(data_dir, "train", config).element_spec
    assert spec["image"].shape.as_list() == [4, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert spec["concepts"].shape.as_list() == [4, 12]
    batch = next(iter(input_pipeline.make_dataset(data_dir, "train", config)))
    assert batch["tags"].shape == (4, 0)
    assert {key: batch[key].dtype for key in batch} == {
        "image": tf.float32, "image_id": tf.int64, "concepts": tf.float32, "tags": tf.float32,
        "input_ids": tf.int32, "target_ids": tf.int32, "target_mask": tf.float32,
    }


def test_image_without_captions_does_not_crash(tmp_path):
    images = record_fixtures.random_images(2, seed=5, image_shape=None)
    images[0].captions = []
    data_dir = record_fixtures.write_data_dir(str(tmp_path), {"train": images}, has_images=False)
    rows = {int(r["image_id"]): r for r in _rows(input_pipeline.make_dataset(data_dir, "train", _config(read_images=False)))}
    empty = rows[images[0].image_id]
    assert _sequence(empty) == []
    all_rows = _rows(input_pipeline.make_dataset(data_dir, "train", _config(read_images=False, captions="all")))
    assert {int(r["image_id"]) for r in all_rows} == {images[1].image_id}


def test_out_of_range_index_names_the_mismatch(tmp_path):
    images = record_fixtures.random_images(2, seed=6, image_shape=None)
    images[0].concepts = [50]
    data_dir = record_fixtures.write_data_dir(str(tmp_path), {"train": images}, has_images=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="concept index out of range.*s-cnn-rnn-convert"):
        _rows(input_pipeline.make_dataset(data_dir, "train", _config(read_images=False)))


def test_data_dir_errors(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match="manifest.json.*s-cnn-rnn-convert"):
        input_pipeline.make_dataset(str(tmp_path), "train", _config())
    with pytest.raises(ValueError, match="'test' is not in .*manifest.json"):
        input_pipeline.make_dataset(data_dir, "test", _config())
    with pytest.raises(ValueError, match="'empty' .* has 0 examples"):
        input_pipeline.make_dataset(data_dir, "empty", _config())
    with pytest.raises(ValueError, match="flip=True needs augment"):
        _config(training=True, flip=True)
    with pytest.raises(ValueError, match="augment=True needs training"):
        _config(augment=True)
    labels_free = record_fixtures.write_data_dir(
        str(tmp_path / "nolabels"), {"train": record_fixtures.random_images(2, seed=7, num_labels=0)}, num_labels=0
    )
    with pytest.raises(ValueError, match="labels.txt is empty"):
        input_pipeline.make_dataset(labels_free, "train", _config(task="multilabel"))


def test_dataset_info(data_dir):
    info = input_pipeline.dataset_info(data_dir)
    assert info == {
        "num_examples": {"train": 12, "val": 5, "empty": 0},
        "num_concepts": 12, "num_labels": 6, "num_label_tokens": 9, "num_tags": 5,
        "vocab_size": 30, "has_images": True,
    }


# ----------------------------------------------------------------------------- preprocessing


def test_tf_and_caffe_scaling():
    black, white = np.zeros([8, 10, 3], np.uint8), np.full([8, 10, 3], 255, np.uint8)
    assert np.allclose(image_preprocessing.preprocess(black, 6, "tf"), -1.0)
    assert np.allclose(image_preprocessing.preprocess(white, 6, "tf"), 1.0)
    rgb = np.zeros([8, 10, 3], np.uint8) + np.array([10, 20, 30], np.uint8)
    vgg16 = ModelConfig(backbone="vgg16", backbone_weights="none")
    caffe = image_preprocessing.preprocess(rgb, vgg16.resolved_image_size, vgg16.preprocessing_mode).numpy()
    assert caffe.shape == (224, 224, 3)  # the backbone's default size
    np.testing.assert_allclose(caffe[0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-3)
    pixels = np.random.default_rng(0).uniform(0, 255, [2, 5, 7, 3]).astype(np.float32)
    np.testing.assert_allclose(  # as keras.applications.vgg16.preprocess_input
        image_preprocessing.scale_pixels(pixels, "caffe"), pixels[..., ::-1] - [103.939, 116.779, 123.68], atol=1e-4
    )


def test_preprocessing_mode_override(data_dir):
    jpeg = record_fixtures.make_jpeg(30, 40, seed=2)
    # An inception_v3 model told to take "caffe" pixels gets exactly VGG16's scaling.
    override = ModelConfig(backbone="inception_v3", backbone_weights="none", preprocessing="caffe")
    as_caffe = image_preprocessing.decode_and_preprocess(jpeg, 8, override.preprocessing_mode).numpy()
    vgg16_mode = ModelConfig(backbone="vgg16", backbone_weights="none").preprocessing_mode
    np.testing.assert_allclose(as_caffe, image_preprocessing.decode_and_preprocess(jpeg, 8, vgg16_mode), atol=1e-4)
    config = _config(preprocessing="caffe", batch_size=2)
    batch = next(iter(input_pipeline.make_dataset(data_dir, "val", config)))
    assert batch["image"].numpy().min() < -50  # mean-subtracted, not [-1, 1]
    with pytest.raises(ValueError, match="preprocessing='torch'"):
        _config(preprocessing="torch")


def test_images_need_the_models_size_and_scaling():
    # No backbone name to fall back on: the model's config says how its pixels look.
    for missing in ("image_size", "preprocessing"):
        with pytest.raises(ValueError, match="ModelConfig.resolved_image_size and .preprocessing_mode"):
            _config(**{missing: None})
    _config(image_size=None, preprocessing=None, read_images=False)  # stage 2 reads no image
    with pytest.raises(ValueError, match="unknown preprocessing mode 'torch'"):
        image_preprocessing.preprocess(np.zeros([4, 4, 3], np.uint8), 4, "torch")


def test_augmented_values_stay_in_range_and_follow_the_seed():
    jpeg = record_fixtures.make_jpeg(60, 80, seed=0)
    image = tf.io.decode_jpeg(jpeg)
    kwargs = dict(image_size=32, mode="tf", training=True, augment=True, flip=True)
    first = image_preprocessing.preprocess(image, seed=[3, 4], **kwargs).numpy()
    assert first.shape == (32, 32, 3) and first.min() >= -1.0 and first.max() <= 1.0
    np.testing.assert_array_equal(first, image_preprocessing.preprocess(image, seed=[3, 4], **kwargs))
    assert not np.allclose(first, image_preprocessing.preprocess(image, seed=[5, 6], **kwargs))
    from_jpeg = image_preprocessing.decode_and_preprocess(jpeg, seed=[3, 4], **kwargs).numpy()
    # Same crop and jitter; only the JPEG decoder's chroma rounding at the window border differs.
    assert np.abs(from_jpeg - first).mean() < 0.02


def test_eval_view_is_the_central_square():
    # Left and right thirds red, the central square green: the eval view sees only green.
    image = np.zeros([30, 90, 3], np.uint8)
    image[:, :, 0] = 255
    image[:, 30:60] = [0, 255, 0]
    view = image_preprocessing.preprocess(image, 10, "tf").numpy()
    np.testing.assert_allclose(view[..., 1], 1.0)
    np.testing.assert_allclose(view[..., 0], -1.0)
    jpeg = record_fixtures.make_jpeg(48, 64, seed=1)
    decoded = image_preprocessing.preprocess(tf.io.decode_jpeg(jpeg), 16, "caffe").numpy()
    cropped = image_preprocessing.decode_and_preprocess(jpeg, 16, "caffe").numpy()
    np.testing.assert_allclose(cropped[:, 1:-1], decoded[:, 1:-1], atol=1e-3)
