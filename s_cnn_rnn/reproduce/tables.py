"""Which rows each reproducible table has, each row's flagfile, and what each row needs of the data.

A row's key is its flagfile's stem (`coco_caption_ours`): unique over all tables, so the model dirs of
Tables 1, 2 and 4 never collide under one output dir. The row names are the paper's
(`paper_results.PAPER_RESULTS`).
"""

import dataclasses
import os

from s_cnn_rnn import data_dir as data_dir_lib
from s_cnn_rnn import tasks
from s_cnn_rnn.models import variants
from s_cnn_rnn.reproduce import paper_results

# The row every other row is compared with, seed by seed.
REFERENCE_ROW = "Ours"

# Rows that read another row's trained models a second way: {(table, row name): (the row it reads, the
# metrics.json row it reads)}. The paper scores CNN+logistic by its top 3 labels (Sec. 4.1); its
# concept layer thresholded at p >= 0.5 is the other common reading, so Table 2 shows both from the
# same models (no second training).
ROW_READINGS = {
    (2, "CNN+logistic (p>=0.5)"): ("CNN+logistic", "concept_threshold"),
}


# Each implemented row's flagfile under flags/, by (table, the paper's row name). The rows
# themselves (which variant, tags, fixed CNN) are the variant records' (`models/variants.py`).
ROW_FLAGFILES = {
    (1, "CNN+logistic"): "nuswide_cnn_logistic.flags",
    (1, "RIA"): "nuswide_ria.flags",
    (1, "Ours"): "nuswide_ours.flags",
    (1, "Ours+Tag1K Fix"): "nuswide_ours_tag1k_fix.flags",
    (1, "Ours+Tag1K"): "nuswide_ours_tag1k.flags",
    (2, "CNN+logistic"): "coco_multilabel_cnn_logistic.flags",
    (2, "RIA"): "coco_multilabel_ria.flags",
    (2, "Ours"): "coco_multilabel_ours.flags",
    (2, "Ours+Tag1K"): "coco_multilabel_ours_tag1k.flags",
    (4, "NIC-F"): "coco_caption_nic_f.flags",
    (4, "NIC-deeply"): "coco_caption_nic_deeply.flags",
    (4, "Ours"): "coco_caption_ours.flags",
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a table: a variant record's `TableRow` and the flagfile that trains it.

    Attributes:
      name: the paper's row name (a key of the table's `paper_results.PAPER_RESULTS`).
      flagfile: file name under flags/ that trains it.
      variant: its `--variant` (a `models.variants` record).
      use_tags, freeze_cnn: the row's switches (its `TableRow`).
      reading: the metrics.json row to read instead of the variant's own (`ROW_READINGS`); None: its own.
    """

    name: str
    flagfile: str
    variant: str
    use_tags: bool = False
    freeze_cnn: bool = False
    reading: str | None = None

    @property
    def run_key(self) -> str:
        """The folder of its model dirs under the output dir: its flagfile's stem (rows that read the
        same models another way share it)."""
        return os.path.splitext(self.flagfile)[0]

    @property
    def key(self) -> str:
        """Unique within every table: the run key, plus the reading for a second reading of a row's models."""
        return self.run_key if self.reading is None else f"{self.run_key}_{self.reading}"

    @property
    def needs(self) -> tuple:
        """What the data must have beyond the task's basics: "tags" for a Tag1K row (M8)."""
        return ("tags",) if self.use_tags else ()

    @property
    def stages(self) -> tuple:
        """The stages `--stage=all` trains for this row, in order."""
        return variants.stages_to_run(self.variant, self.use_tags)


@dataclasses.dataclass(frozen=True)
class Table:
    """One of the paper's tables.

    Attributes:
      number: 1, 2 or 4.
      title: the paper's caption, shortened.
      task: "multilabel" or "caption".
      columns: metrics.json keys in the paper's column order.
      scale: printed value = metrics.json value x scale (100 for the x100 multi-label tables).
      digits: decimals printed.
      rows: in the paper's order.
    """

    number: int
    title: str
    task: str
    columns: tuple
    scale: float
    digits: int
    rows: tuple

    @property
    def paper(self) -> dict:
        """{row name: {column: published value}}."""
        return paper_results.PAPER_RESULTS[self.number]

    def metrics_row(self, row: Row) -> str | None:
        """The metrics.json row the table reads of `row`: None for captions (one row of scores);
        "decoded", or "concept_top3" for a variant without a decoder (CNN+logistic's fixed-length
        top 3, SPEC I3)."""
        if self.task == "caption":
            return None
        if row.reading is not None:
            return row.reading
        return "decoded" if variants.get(row.variant).has_decoder else "concept_top3"


# Column headers where the metrics.json key is not the paper's name.
COLUMN_TITLES = {"ROUGE_L": "ROUGE-L", "Bleu_4": "B-4"}


def _rows(number: int) -> tuple:
    """The rows of Table `number` in the paper's order, from the variant records."""
    records = {row.row: (variant.name, row) for variant in variants.VARIANTS.values() for row in variant.rows
               if row.table == number}
    rows = []
    for name in paper_results.PAPER_RESULTS[number]:
        source, reading = ROW_READINGS.get((number, name), (name, None))
        variant, record = records[source]
        rows.append(Row(name, ROW_FLAGFILES[(number, source)], variant, record.use_tags, record.freeze_cnn, reading))
    return tuple(rows)


TABLES = {
    1: Table(1, "Multi-label classification on NUS-WIDE (x100)", "multilabel", paper_results.MULTILABEL_COLUMNS,
             100.0, 2, _rows(1)),
    2: Table(2, "Multi-label classification on MS COCO (x100)", "multilabel", paper_results.MULTILABEL_COLUMNS,
             100.0, 2, _rows(2)),
    4: Table(4, "Captioning ablation on the COCO held-out split", "caption", paper_results.CAPTION_COLUMNS,
             1.0, 3, _rows(4)),
}


def select_rows(table: Table, keys: list) -> tuple:
    """The table's rows whose key or paper name is in `keys` (all when empty), in the paper's order.

    Raises:
      ValueError: a key that names no row of the table.
    """
    if not keys:
        return table.rows
    known = {row.key for row in table.rows} | {row.name for row in table.rows}
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValueError(f"--rows: {unknown} not in Table {table.number}; its rows are "
                         f"{[row.key for row in table.rows]} (or their paper names)")
    return tuple(row for row in table.rows if row.key in keys or row.name in keys)


def missing_requirement(table: Table, row: Row, data_dir: str) -> str | None:
    """Why the data cannot train `row` (None when it can): no labels for a multi-label table, no
    caption words for a captioning one, no images, or no tags for a Tag1K row.

    Raises:
      FileNotFoundError, ValueError: `data_dir` is not converted data (the data_dir module's errors).
    """
    info = data_dir_lib.dataset_info(data_dir)
    vocab = os.path.join(data_dir, "vocab")
    if not info["has_images"]:
        return f"the data has no images (captions-only records, {data_dir}/manifest.json)"
    task = tasks.get(table.task)
    if task.sizes(info)[0] == 0:
        return f"the data has no {task.targets_noun} ({os.path.join(data_dir, task.concept_vocab_file)} is empty)"
    if "tags" in row.needs and info["num_tags"] == 0:
        return (f"needs user tags (Tag1K) and the data has none ({vocab}/tags.txt is empty): convert with "
                "--user_tags_json or the NUS-WIDE layout")
    return None
