"""The models of the paper's tables, one record each, and the training stages they run.

Everything that says what a variant IS lives here; the builder, the stages, the evaluation
tables, `s-cnn-rnn-train --variant` and the benchmarks read these records (plain data, no
TensorFlow, no Keras, so light processes such as s-cnn-rnn-reproduce can import it).

| variant        | paper | embedding `I_e` into the bridge   | bridge              | `L_u` | tags | decoder | stages                 |
|----------------|-------|-----------------------------------|---------------------|-------|------|---------|------------------------|
| `s_cnn_rnn`    | V1 V2 | concept probabilities ŝ [B, k]   | h0 = Dense, c0 = 0  | yes   | yes  | yes     | (tags), cnn, rnn, joint |
| `nic_f`        | V3    | CNN features [B, F]               | step-zero input     | no    | no   | yes     | decoder, joint         |
| `nic_deeply`   | V4    | CNN features (concept layer beside) | h0 = Dense, c0 = 0 | yes  | no   | yes     | cnn, decoder, joint    |
| `cnn_logistic` | V5    | -                                 | -                   | yes   | yes  | no      | (tags), cnn            |
| `ria`          | V6    | CNN features [B, F]               | h0 = Dense, c0 = 0  | no    | no   | yes     | decoder, joint         |

"(tags)": the tags stage runs only for a model with `use_tags` (`stages_to_run`). NIC-deeply
differs from Ours in its embedding only (Sec. 5.2), so it has Ours' bridge; NIC-F is NIC.

Bridges (see `decoder.py`): "initial_state" (M2, RIA [14]): h0 = W I_e + b, c0 = 0;
"step_zero_input" (NIC [29]): (h0, c0) = LSTM(W I_e + b, 0, 0), `<start>` the next input.

Adding a variant: append one `Variant` to `_VARIANTS`; `Variant.__post_init__` refuses an
inconsistent record (tests/test_variants.py checks every record). A new stage needs one
`Stage` in `_STAGES` (what it needs of a variant) and its loss in `training/stages.py`.
"""

import dataclasses
from typing import Optional

# What the bridge reads: the concept probabilities ŝ (M1) or the backbone's feature vector.
EMBEDDINGS = ("concepts", "features")
BRIDGES = ("initial_state", "step_zero_input")
# The paper's tables: 1 NUS-WIDE labels, 2 COCO labels, 3 COCO test server captions,
# 4 COCO captioning ablation.
TABLES = (1, 2, 3, 4)


class VariantError(ValueError):
    """A variant or stage record contradicts itself, or an unknown variant was asked for."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training stage and what a variant needs to have it (see `training/stages.py`).

    Attributes:
      name: "tags", "cnn", "rnn", "decoder", "joint" (the `--stage` value and the model dir's
        subdirectory).
      reads_images: whether its batches carry decoded images (tags and rnn read none).
      needs_concept_loss: it trains on L_u.
      needs_decoder: it trains on L_r.
      needs_embedding: the bridge input it feeds the decoder by itself (stage 2 feeds the
        ground-truth concepts s, so the decoder must read concepts; the decoder stage feeds the
        frozen CNN's features); None: whatever the model's.
      needs_tags: it trains the tag MLP alone, so it runs only for a model with `use_tags`.
      starts_from: `((earlier stage, part), ...)`: the parts ("cnn", "decoder", "tag_mlp") it reads
        from the final checkpoint of each earlier stage the model ran, in this order.
    """

    name: str
    reads_images: bool
    needs_concept_loss: bool = False
    needs_decoder: bool = False
    needs_embedding: Optional[str] = None
    needs_tags: bool = False
    starts_from: tuple = ()


# In training order: a variant's stages are a subsequence of this.
_STAGES = (
    Stage("tags", reads_images=False, needs_concept_loss=True, needs_tags=True),
    Stage("cnn", reads_images=True, needs_concept_loss=True, starts_from=(("tags", "tag_mlp"),)),
    Stage("rnn", reads_images=False, needs_decoder=True, needs_embedding="concepts"),
    Stage("decoder", reads_images=True, needs_decoder=True, needs_embedding="features",
          starts_from=(("cnn", "cnn"),)),
    Stage("joint", reads_images=True, needs_decoder=True,
          starts_from=(("cnn", "cnn"), ("decoder", "cnn"), ("rnn", "decoder"), ("decoder", "decoder"))),
)
STAGES = {stage.name: stage for stage in _STAGES}
STAGE_ORDER = tuple(STAGES)


@dataclasses.dataclass(frozen=True)
class TableRow:
    """A row of the paper's tables that a variant fills, with the switches that make it.

    Attributes:
      table: 1-4 (see `TABLES`).
      row: the row's name in the paper, e.g. "Ours+Tag1K Fix".
      use_tags: the row uses the noisy tags (ModelConfig.use_tags, M8).
      freeze_cnn: the row fixes the CNN (ModelConfig.freeze_cnn, T7).
    """

    table: int
    row: str
    use_tags: bool = False
    freeze_cnn: bool = False


@dataclasses.dataclass(frozen=True)
class Variant:
    """One model of the paper's tables (a `ModelConfig.variant` value).

    Attributes:
      name: the `--variant` value.
      paper_name: how evaluation tables name it ("S-CNN-RNN", "NIC-F", ...).
      spec: the SPEC codes it implements ("V1 V2").
      rows: the paper's table rows it appears in.
      embedding: what the bridge reads, one of `EMBEDDINGS`; None without a decoder.
      bridge: how the embedding enters the LSTM, one of `BRIDGES`; None without a decoder.
      concept_loss: it has the k-unit concept layer trained with L_u.
      accepts_tags: `use_tags` may be set (the tag MLP's logits add to the concept logits).
      has_decoder: it has the LSTM decoder (and so emits sequences).
      stages: what `--stage=all` runs, in order (the tags stage only with `use_tags`: `stages_to_run`).
    """

    name: str
    paper_name: str
    spec: str
    rows: tuple
    embedding: Optional[str]
    bridge: Optional[str]
    concept_loss: bool
    accepts_tags: bool
    has_decoder: bool
    stages: tuple

    def __post_init__(self):
        problems = consistency_problems(self)
        if problems:
            raise VariantError(f"variant record {self.name!r} is inconsistent: {'; '.join(problems)}")


def consistency_problems(variant: Variant) -> list[str]:
    """Everything a variant record says that contradicts the rest of it (empty: consistent)."""
    problems = []
    if variant.has_decoder:
        if variant.embedding not in EMBEDDINGS:
            problems.append(f"a decoder needs an embedding in {EMBEDDINGS}, got {variant.embedding!r}")
        if variant.bridge not in BRIDGES:
            problems.append(f"a decoder needs a bridge in {BRIDGES}, got {variant.bridge!r}")
    elif variant.embedding is not None or variant.bridge is not None:
        problems.append("no decoder, so no embedding and no bridge")
    if not (variant.has_decoder or variant.concept_loss):
        problems.append("neither a decoder nor a concept loss: nothing to train")
    if variant.embedding == "concepts" and not variant.concept_loss:
        problems.append("the concept probabilities are its embedding, so it needs the concept loss")
    if variant.accepts_tags and not variant.concept_loss:
        problems.append("tags add to the concept logits, so it needs the concept layer (concept loss)")
    if variant.accepts_tags and variant.embedding == "features":
        problems.append("its decoder reads the features, which the tags never reach")
    unknown = [stage for stage in variant.stages if stage not in STAGES]
    if unknown or not variant.stages:
        problems.append(f"stages {list(variant.stages)} must be a non-empty selection of {list(STAGE_ORDER)}")
        return problems
    in_order = sorted(set(variant.stages), key=STAGE_ORDER.index)
    if list(variant.stages) != in_order:
        problems.append(f"stages {list(variant.stages)} are not in the order {list(STAGE_ORDER)}")
    for name in variant.stages:
        problems += [f"stage {name!r}: {reason}" for reason in stage_problems(STAGES[name], variant)]
    if variant.concept_loss and not any(STAGES[name].needs_concept_loss for name in variant.stages):
        problems.append("no stage trains its concept layer")
    if variant.has_decoder and not any(STAGES[name].needs_decoder for name in variant.stages):
        problems.append("no stage trains its decoder")
    if variant.accepts_tags and not any(STAGES[name].needs_tags for name in variant.stages):
        problems.append("it takes tags, but no stage pretrains its tag MLP (Sec. 4.1)")
    for row in variant.rows:
        if row.table not in TABLES:
            problems.append(f"table {row.table} is not one of the paper's {TABLES}")
        if row.use_tags and not variant.accepts_tags:
            problems.append(f"row {row.row!r} uses tags, which this variant does not take")
    return problems


def stage_problems(stage: Stage, variant: Variant) -> list[str]:
    """Why `variant` cannot run `stage` (empty: it can)."""
    problems = []
    if stage.needs_concept_loss and not variant.concept_loss:
        problems.append("it trains the concept loss, which this variant does not have")
    if stage.needs_tags and not variant.accepts_tags:
        problems.append("it pretrains the tag MLP, which this variant does not take")
    if stage.needs_decoder and not variant.has_decoder:
        problems.append("it trains the decoder, which this variant does not have")
    if stage.needs_embedding is not None and variant.embedding != stage.needs_embedding:
        problems.append(f"it feeds the decoder {stage.needs_embedding}, but this variant's decoder reads "
                        f"{variant.embedding or 'nothing'}")
    return problems


_VARIANTS = (
    Variant(
        name="s_cnn_rnn", paper_name="S-CNN-RNN", spec="V1 V2",
        rows=(TableRow(1, "Ours"), TableRow(1, "Ours+Tag1K Fix", use_tags=True, freeze_cnn=True),
              TableRow(1, "Ours+Tag1K", use_tags=True), TableRow(2, "Ours"), TableRow(2, "Ours+Tag1K", use_tags=True),
              TableRow(3, "Ours"), TableRow(4, "Ours")),
        embedding="concepts", bridge="initial_state", concept_loss=True, accepts_tags=True, has_decoder=True,
        stages=("tags", "cnn", "rnn", "joint"),
    ),
    Variant(
        name="nic_f", paper_name="NIC-F", spec="V3", rows=(TableRow(4, "NIC-F"),),
        embedding="features", bridge="step_zero_input", concept_loss=False, accepts_tags=False, has_decoder=True,
        stages=("decoder", "joint"),
    ),
    Variant(
        name="nic_deeply", paper_name="NIC-deeply", spec="V4", rows=(TableRow(4, "NIC-deeply"),),
        embedding="features", bridge="initial_state", concept_loss=True, accepts_tags=False, has_decoder=True,
        stages=("cnn", "decoder", "joint"),
    ),
    Variant(
        name="cnn_logistic", paper_name="CNN+logistic", spec="V5",
        rows=(TableRow(1, "CNN+logistic"), TableRow(2, "CNN+logistic")),
        embedding=None, bridge=None, concept_loss=True, accepts_tags=True, has_decoder=False,
        stages=("tags", "cnn"),
    ),
    Variant(
        name="ria", paper_name="RIA", spec="V6", rows=(TableRow(1, "RIA"), TableRow(2, "RIA")),
        embedding="features", bridge="initial_state", concept_loss=False, accepts_tags=False, has_decoder=True,
        stages=("decoder", "joint"),
    ),
)
VARIANTS = {variant.name: variant for variant in _VARIANTS}
NAMES = tuple(VARIANTS)


def get(name: str) -> Variant:
    """The record of a `--variant` value; VariantError naming the known ones otherwise."""
    if name not in VARIANTS:
        raise VariantError(f"unknown variant {name!r}; expected one of {list(VARIANTS)}")
    return VARIANTS[name]


def stages_to_run(variant: str, use_tags: bool) -> tuple:
    """What `--stage=all` runs for a model, in order: the variant's stages, the tags stage only
    `use_tags` (a model without tags has no tag MLP to pretrain)."""
    return tuple(name for name in get(variant).stages if use_tags or not STAGES[name].needs_tags)


def model_name(variant: str, use_tags: bool = False, freeze_cnn: bool = False, num_tags: int = 1000) -> str:
    """The name evaluation prints for a model: "S-CNN-RNN+Tag1K Fix", "NIC-F", "RIA", ...

    Args:
      variant: a `--variant` value.
      use_tags: the model reads noisy tags (named "+Tag1K" for 1,000 tags, else "+Tag<n>").
      freeze_cnn: the model's CNN is fixed (" Fix").
      num_tags: the size of its tag vocabulary.
    """
    name = get(variant).paper_name
    if use_tags:
        name += "+Tag1K" if num_tags == 1000 else f"+Tag{num_tags}"
    return name + (" Fix" if freeze_cnn else "")


def paper_row(variant: str, use_tags: bool = False, freeze_cnn: bool = False) -> Optional[str]:
    """The paper's name of the table row such a model fills ("Ours+Tag1K"), None if in no table."""
    for row in get(variant).rows:
        if (row.use_tags, row.freeze_cnn) == (use_tags, freeze_cnn):
            return row.row
    return None
