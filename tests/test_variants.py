"""The variant and backbone records: each consistent, each fact read from them and nowhere else."""

import dataclasses
import os
import subprocess
import sys

import pytest

from s_cnn_rnn.models import backbone_specs
from s_cnn_rnn.models import variants
from s_cnn_rnn.models.config import ModelConfig

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = list(variants.VARIANTS.values())


# ----------------------------------------------------------------------------- variants
@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.name)
def test_every_variant_record_is_consistent(record):
    assert variants.consistency_problems(record) == []
    if not record.concept_loss:  # no L_u: nothing for the cnn stage, no concepts to feed stage 2
        assert "cnn" not in record.stages and "rnn" not in record.stages
    if record.embedding == "concepts":
        assert record.concept_loss
    if record.accepts_tags:  # the tag logits add to the concept logits, which the decoder must read
        assert record.concept_loss and record.embedding in ("concepts", None)
    if not record.has_decoder:
        assert record.embedding is None and record.bridge is None
        assert "rnn" not in record.stages and "joint" not in record.stages
    else:
        assert record.embedding in variants.EMBEDDINGS and record.bridge in variants.BRIDGES
    assert record.stages and list(record.stages) == [s for s in variants.STAGE_ORDER if s in record.stages]
    for stage in record.stages:
        assert variants.stage_problems(variants.STAGES[stage], record) == []


def test_every_table_row_is_named_once():
    rows = [(row.table, row.row) for record in RECORDS for row in record.rows]
    assert len(rows) == len(set(rows))
    assert {table for table, _ in rows} == set(variants.TABLES)
    assert variants.paper_row("s_cnn_rnn", use_tags=True, freeze_cnn=True) == "Ours+Tag1K Fix"
    assert variants.paper_row("nic_f") == "NIC-F" and variants.paper_row("nic_f", use_tags=True) is None


_BROKEN = [
    (dict(concept_loss=False), "needs the concept loss"),  # concepts as embedding without L_u
    (dict(name="x", embedding="features", concept_loss=False, accepts_tags=False, rows=()), "'cnn'"),
    (dict(has_decoder=False), "no embedding and no bridge"),
    (dict(embedding=None, bridge=None, has_decoder=False), "stage 'rnn'"),
    (dict(embedding="features"), "which the tags never reach"),
    (dict(stages=("joint", "cnn")), "not in the order"),
    (dict(stages=("cnn", "cnn", "rnn", "joint")), "not in the order"),
    (dict(stages=("cnn", "pretrain")), "non-empty selection"),
    (dict(stages=("cnn", "rnn", "joint")), "no stage pretrains its tag MLP"),
    (dict(stages=()), "non-empty selection"),
    (dict(stages=("rnn",)), "no stage trains its concept layer"),
    (dict(stages=("cnn",)), "no stage trains its decoder"),
    (dict(bridge="output_fusion"), "bridge in"),
    (dict(rows=(variants.TableRow(5, "Ours"),)), "table 5"),
]


@pytest.mark.parametrize("changes, message", _BROKEN)
def test_an_inconsistent_record_is_refused(changes, message):
    with pytest.raises(variants.VariantError, match=message):
        dataclasses.replace(variants.get("s_cnn_rnn"), **changes)


def test_tags_need_a_variant_that_accepts_them():
    with pytest.raises(variants.VariantError, match="uses tags"):
        dataclasses.replace(variants.get("nic_f"), rows=(variants.TableRow(4, "NIC-F+Tag1K", use_tags=True),))


def test_model_config_reads_the_record():
    for record in RECORDS:
        config = ModelConfig(variant=record.name, backbone="small_cnn", backbone_weights="none")
        assert config.variant_record is record
        assert (config.has_concept_loss, config.has_decoder) == (record.concept_loss, record.has_decoder)
        assert (config.bridge_input, config.bridge_mode) == (record.embedding, record.bridge)
    assert variants.model_name("s_cnn_rnn", use_tags=True, freeze_cnn=True) == "S-CNN-RNN+Tag1K Fix"
    assert variants.model_name("s_cnn_rnn", use_tags=True, num_tags=81) == "S-CNN-RNN+Tag81"
    with pytest.raises(variants.VariantError, match="unknown variant 'nic'"):
        variants.get("nic")


def test_the_records_import_no_tensorflow():
    code = ("import sys; from s_cnn_rnn.models import variants, backbone_specs, config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHONPATH=PROJECT_ROOT))
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- backbones
@pytest.mark.parametrize("spec", list(backbone_specs.BACKBONES.values()), ids=lambda spec: spec.name)
def test_every_backbone_record_builds_what_it_says(spec):
    from s_cnn_rnn.models import backbones  # pylint: disable=import-outside-toplevel  (Keras)

    width = 8
    model = backbones.build_backbone(spec.name, "none", image_size=spec.min_image_size, width=width)
    assert model.name == backbones.BACKBONE_NAME
    assert model.input_shape == (None, spec.min_image_size, spec.min_image_size, 3)
    assert model.output_shape == (None, spec.feature_width or 4 * width)
    config = ModelConfig(backbone=spec.name, backbone_weights="none")
    assert (config.resolved_image_size, config.preprocessing_mode) == (spec.default_image_size, spec.pixel_scaling)
    with pytest.raises(ValueError, match="too small"):
        ModelConfig(backbone=spec.name, backbone_weights="none", image_size=spec.min_image_size - 1)
    if not spec.has_imagenet_weights:
        with pytest.raises(ValueError, match="has no ImageNet weights"):
            ModelConfig(backbone=spec.name, backbone_weights="imagenet")


def test_a_named_feature_layer_is_a_one_record_change(monkeypatch):
    """The paper's VGG16 reads FC7 (fc2, 4,096-d): a record naming that layer builds it."""
    from s_cnn_rnn.models import backbones  # pylint: disable=import-outside-toplevel  (Keras)

    vgg16 = backbone_specs.get("vgg16")
    fc7 = dataclasses.replace(vgg16, name="vgg16_fc7", feature_layer="fc2", feature_width=4096)
    monkeypatch.setitem(backbone_specs.BACKBONES, fc7.name, fc7)
    model = backbones.build_backbone(fc7.name, "none", image_size=32)
    assert model.output_shape == (None, 4096)
    assert model.layers[-1].name == "fc2"


def test_backbone_records_refuse_contradictions():
    with pytest.raises(backbone_specs.BackboneSpecError, match="pixel_scaling"):
        dataclasses.replace(backbone_specs.get("vgg16"), pixel_scaling="torch")
    with pytest.raises(backbone_specs.BackboneSpecError, match="min_image_size"):
        dataclasses.replace(backbone_specs.get("vgg16"), min_image_size=300)
    with pytest.raises(backbone_specs.BackboneSpecError, match="keras.applications"):
        dataclasses.replace(backbone_specs.get("small_cnn"), has_imagenet_weights=True)
    with pytest.raises(backbone_specs.BackboneSpecError, match="unknown backbone 'resnet'"):
        backbone_specs.get("resnet")
