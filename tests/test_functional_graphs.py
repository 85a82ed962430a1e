"""The models as Keras functional graphs: shared layers, the printed summary, stable checkpoint paths."""

import tensorflow as tf

from s_cnn_rnn import models
from test_models import NUM_TAGS, tiny_config


# ---------------------------------------------------------------------------------------- functional graphs
def test_models_are_functional_graphs_over_shared_layers():
    model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    graphs = model.graphs()
    assert set(graphs) == {"full_model", "unary_model", "teacher_forcing_model", "initial_state_model",
                           "step_model"}
    for graph in graphs.values():
        assert type(graph).__name__ == "Functional"
    decoder = model.decoder
    for graph in (model.step_model, model.teacher_forcing_model):  # decoding trains what it runs
        names = {layer.name: layer for layer in graph.layers}
        assert names["word_embedding"] is decoder.word_embedding
        assert names["word_logits"] is decoder.word_logits
    assert model.step_model.get_layer("lstm_cell") is decoder.lstm_cell
    assert model.teacher_forcing_model.get_layer("initial_state") is model.initial_state_model
    assert model.full_model.get_layer("unary_model") is model.unary_model
    assert model.full_model.get_layer("teacher_forcing") is model.teacher_forcing_model
    assert model.unary_model.get_layer("concept_layer") is model.concept_cnn.concept_layer
    assert model.unary_model.get_layer("tag_mlp") is model.concept_cnn.tag_mlp
    # Every weight of the whole graph is a weight of one of the two parts, and the reverse.
    part_ids = {id(variable) for variable in model.weights}
    assert {id(variable) for variable in model.full_model.weights} == part_ids
    assert model.count_params() == model.full_model.count_params()


def test_summary_shows_the_architecture():
    summary = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS)).summary()
    for row in ("unary_model (Functional)", "teacher_forcing (Functional)", "backbone (Functional)",
                "concept_layer (Dense)", "tag_mlp (Functional)", "bridge (Dense)", "lstm_cell (LSTMCell)",
                "word_embedding (Embedding)", "word_logits (Dense)", 'Model: "decoding_step"'):
        assert row in summary, row
    logistic = models.build_model(tiny_config(variant="cnn_logistic")).summary()
    assert 'Model: "unary_model"' in logistic and "lstm_cell" not in logistic


def test_checkpoint_variable_paths_are_stable(tmp_path):
    # Trained model dirs name their variables by these paths: changing one orphans users' weights.
    model = models.build_model(tiny_config(use_tags=True, num_tags=NUM_TAGS))
    path = tf.train.Checkpoint(**model.checkpoint_items()).save(str(tmp_path / "ckpt"))
    names = {name.replace("/.ATTRIBUTES/VARIABLE_VALUE", "") for name, _ in tf.train.list_variables(path)}
    expected = {
        "concept_cnn/concept_layer/_kernel", "concept_cnn/concept_layer/bias",
        "concept_cnn/tag_mlp/hidden/_kernel", "concept_cnn/tag_mlp/hidden/bias",
        "concept_cnn/tag_mlp/logits/_kernel", "concept_cnn/tag_mlp/logits/bias",
        "decoder/bridge/_kernel", "decoder/bridge/bias", "decoder/word_embedding/_embeddings",
        "decoder/lstm_cell/kernel", "decoder/lstm_cell/recurrent_kernel", "decoder/lstm_cell/bias",
        "decoder/word_logits/_kernel", "decoder/word_logits/bias",
        "concept_cnn/backbone/_operations/1/_kernel", "concept_cnn/backbone/_operations/2/moving_mean",
    }
    assert expected <= names
    assert {name.split("/")[0] for name in names} == {"concept_cnn", "decoder", "save_counter",
                                                      "_CHECKPOINTABLE_OBJECT_GRAPH"}
    # The optimizer's slots follow this order: stage 1's variables, then the decoder's.
    assert [id(v) for v in model.trainable_variables] == [
        id(v) for v in model.concept_cnn.trainable_variables + model.decoder.trainable_variables]
    assert model.decoder.trainable_variables[0] is model.decoder.bridge.kernel
