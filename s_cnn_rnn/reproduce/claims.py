"""The paper's claims about its tables, as data: which row beats which, on which metrics, by how much.

Fixed before any run. Every table contributes (a) each pair of rows adjacent in the paper's ranking on
one of its headline metrics (O-F1 and C-F1 for the multi-label Tables 1 and 2; CIDEr, METEOR, B-4 and
ROUGE-L for Table 4) and (b) each gap the paper's text names. A claim tests all its table's headline
metrics: where the paper ranks a pair differently on two metrics (Table 2's RIA and CNN+logistic) the
paper's difference carries the sign per metric. A claim may name a row its table does not have (yet):
it is then "not run" (`verdicts.judge`).
"""

import dataclasses

from s_cnn_rnn.reproduce import paper_results

# The metrics a table's claims are tested on (metrics.json keys).
HEADLINE_METRICS = {1: ("O-F1", "C-F1"), 2: ("O-F1", "C-F1"), 4: ("CIDEr", "METEOR", "Bleu_4", "ROUGE_L")}

# Table 2's second reading of CNN+logistic's models (`tables.ROW_READINGS`): its concept layer at p >= 0.5
# instead of the top 3; the paper's numbers are the one published CNN+logistic row.
CNN_LOGISTIC_THRESHOLD = "CNN+logistic (p>=0.5)"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim: row `better` scores above row `worse` in Table `table`.

    Attributes:
      table: 1, 2 or 4.
      id: a stable name, e.g. "t1_ours_vs_ria".
      better, worse: the table's row names, in the paper's order (better first).
      text: the claim in one line, with the paper's section.
      paper_better, paper_worse: the rows of `paper_results.PAPER_RESULTS` the paper's numbers come from
        (default: `better`, `worse`); another when a reproduced row is a second reading of a published one.
    """

    table: int
    id: str
    better: str
    worse: str
    text: str
    paper_better: str = ""
    paper_worse: str = ""

    def __post_init__(self):
        object.__setattr__(self, "paper_better", self.paper_better or self.better)
        object.__setattr__(self, "paper_worse", self.paper_worse or self.worse)

    @property
    def metrics(self) -> tuple:
        return HEADLINE_METRICS[self.table]

    def paper_difference(self, metric: str) -> float:
        """better - worse in the paper's table, in its printed units."""
        published = paper_results.PAPER_RESULTS[self.table]
        return published[self.paper_better][metric] - published[self.paper_worse][metric]


CLAIMS = (
    # Table 1, NUS-WIDE (Sec. 4.3, "Results on NUS-WIDE").
    Claim(1, "t1_ria_vs_cnn_logistic", "RIA", "CNN+logistic",
          "Table 1 ranking (Sec. 4.3): the CNN-RNN RIA above per-label logistic regression"),
    Claim(1, "t1_ours_vs_ria", "Ours", "RIA",
          "Sec. 4.3 (3): the gap Ours - RIA shows the importance of semantic regularisation of the CNN embedding"),
    Claim(1, "t1_ours_vs_cnn_logistic", "Ours", "CNN+logistic",
          "Sec. 4.3 (1): without side information Ours beats every alternative on F1, CNN+logistic included"),
    Claim(1, "t1_tag1k_fix_vs_ours", "Ours+Tag1K Fix", "Ours",
          "Table 1 ranking (Sec. 4.3): the 1K user tags lift even the fixed-CNN model above Ours"),
    Claim(1, "t1_tag1k_vs_tag1k_fix", "Ours+Tag1K", "Ours+Tag1K Fix",
          "Sec. 4.3 (5): Ours+Tag1K improves over Ours+Tag1K Fix: end-to-end training pays with deep supervision"),
    # Table 2, MS COCO labels (Sec. 4.3, "Results on MS COCO").
    Claim(2, "t2_ria_vs_cnn_logistic", "RIA", "CNN+logistic",
          "Table 2 ranking (Sec. 4.3): RIA above CNN+logistic on O-F1, 0.15 below it on C-F1"),
    Claim(2, "t2_ours_vs_ria", "Ours", "RIA",
          "Sec. 4.3: as on NUS-WIDE, semantic regularisation puts Ours above RIA"),
    Claim(2, "t2_ours_vs_cnn_logistic", "Ours", "CNN+logistic",
          "Sec. 4.3: as on NUS-WIDE, Ours above CNN+logistic (its top 3)"),
    Claim(2, "t2_ria_vs_cnn_logistic_threshold", "RIA", CNN_LOGISTIC_THRESHOLD,
          "Table 2 ranking (Sec. 4.3), CNN+logistic read at p >= 0.5: RIA above it on O-F1, below on C-F1",
          paper_worse="CNN+logistic"),
    Claim(2, "t2_ours_vs_cnn_logistic_threshold", "Ours", CNN_LOGISTIC_THRESHOLD,
          "Sec. 4.3, CNN+logistic read at p >= 0.5: Ours above it", paper_worse="CNN+logistic"),
    Claim(2, "t2_tag1k_vs_ours", "Ours+Tag1K", "Ours",
          "Sec. 4.3: the 1K noisy tags help on COCO too, less than on NUS-WIDE"),
    # Table 4, the captioning ablation (Sec. 5.2, "Ablation study").
    Claim(4, "t4_nic_deeply_vs_nic_f", "NIC-deeply", "NIC-F",
          "Sec. 5.2 ablation (2), deep supervision: the most crucial contributor, NIC-F -> NIC-deeply"),
    Claim(4, "t4_ours_vs_nic_deeply", "Ours", "NIC-deeply",
          "Sec. 5.2 ablation (2), semantic embedding: the prediction layer as the interface, NIC-deeply -> Ours"),
    Claim(4, "t4_ours_vs_nic_f", "Ours", "NIC-F",
          "Sec. 5.2 ablation (1): semantic regularisation is critical, about 7% CIDEr from NIC-F to Ours"),
)


def for_table(number: int) -> tuple:
    """The claims about Table `number`, in the order above."""
    return tuple(claim for claim in CLAIMS if claim.table == number)
