"""Training, evaluation, s-cnn-rnn-predict and the SavedModel feed a model the same pixels.

The image size and pixel scaling come from the model's config (`ModelConfig.resolved_image_size`,
`.preprocessing_mode`) on every path. The model here overrides its backbone's scaling
(`preprocessing="caffe"` on small_cnn, whose own is "tf"), which the training pipeline used to
drop: it trained on [-1, 1] pixels while evaluation, predict and serving fed BGR minus the mean.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import record_fixtures
import serving_fixtures
from s_cnn_rnn import inference
from s_cnn_rnn import input_pipeline
from s_cnn_rnn.evaluation import runner
from s_cnn_rnn.serving import export_lib
from s_cnn_rnn.serving import predict_lib
from s_cnn_rnn.training import stage_runner
from s_cnn_rnn.training import trainer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """One non-square JPEG (made with PIL) as the only record of train and test, and a model dir."""
    folder = tmp_path_factory.mktemp("same_pixels")
    jpeg = record_fixtures.make_jpeg(45, 70, seed=3)  # PIL-encoded; not square, so the crop matters
    jpeg_path = folder / "image.jpg"
    jpeg_path.write_bytes(jpeg)
    record = record_fixtures.FixtureImage(image_id=1, captions=[[5, 6]], concepts=[1], labels=[0], tags=[1],
                                          jpeg=jpeg)
    data_dir = record_fixtures.write_data_dir(str(folder / "data"), {"train": [record], "test": [record]},
                                              num_shards=1)
    model_dir = serving_fixtures.make_model_dir(data_dir, str(folder / "model"), "multilabel",
                                                preprocessing="caffe")
    return {"jpeg": jpeg, "jpeg_path": str(jpeg_path), "data_dir": data_dir, "model_dir": model_dir,
            "export_dir": str(folder / "export")}


def _first_image(data_dir: str, split: str, config: input_pipeline.PipelineConfig) -> np.ndarray:
    return next(iter(input_pipeline.make_dataset(data_dir, split, config)))["image"][0].numpy()


def test_training_evaluation_predict_and_serving_feed_identical_pixels(setup):
    trained = inference.load_trained_model(setup["model_dir"])
    config = trained.config
    assert (config.backbone, config.backbone_spec.pixel_scaling, config.preprocessing_mode) == (
        "small_cnn", "tf", "caffe")

    # (a) The training pipeline exactly as the stage runner configures it for every image stage.
    settings = {stage: trainer.StageSettings(stage=stage, train_steps=1, batch_size=1) for stage in ("cnn", "joint")}
    options = stage_runner.TrainOptions(stage="all", data_dir=setup["data_dir"], model_dir=setup["model_dir"],
                                       task=trained.task, model=config, stage_settings=settings)
    training = {stage: _first_image(setup["data_dir"], "train", stage_runner.pipeline_config(options, stage, True))
                for stage in settings}
    # (b) The evaluation pipeline of s-cnn-rnn-evaluate.
    evaluation = _first_image(setup["data_dir"], "test", runner._pipeline_config(trained, 1))
    # (c) What s-cnn-rnn-predict hands the Annotator for the file.
    predicted = predict_lib.Predictor(setup["model_dir"]).read_image(setup["jpeg_path"])
    # (d) The SavedModel's preprocessing: the method its signatures run, exported and reloaded.
    functions = export_lib.ServingFunctions(inference.Annotator(trained))
    archive = keras.export.ExportArchive()
    archive.add_endpoint("model_inputs", lambda image_bytes: functions.model_inputs(image_bytes),
                         input_signature=[tf.TensorSpec([None], tf.string)])
    archive.write_out(setup["export_dir"], verbose=False)
    served = tf.saved_model.load(setup["export_dir"]).model_inputs(tf.constant([setup["jpeg"]]))[0].numpy()

    assert evaluation.shape == (32, 32, 3)
    assert evaluation.min() < -50  # BGR minus the ImageNet mean, not [-1, 1]
    # Bit-identical: the same decode-crop-resize-scale ops on the same bytes, no augmentation.
    for name, pixels in (("cnn", training["cnn"]), ("joint", training["joint"]), ("predict", predicted),
                         ("serving", served)):
        np.testing.assert_array_equal(pixels, evaluation, err_msg=f"{name} differs from evaluation")
