"""Tests for s_cnn_rnn.metrics.multilabel: every expected number is computed by hand in comments."""

import numpy as np
import pytest

from s_cnn_rnn.metrics import multilabel
from s_cnn_rnn.metrics.multilabel import (
    format_table,
    multilabel_metrics,
    sequences_to_multi_hot,
    threshold_multi_hot,
    top_k_multi_hot,
)

# 4 images x 3 classes.
Y_TRUE = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]])
Y_PRED = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1]])
# Per class (tp / predicted / true):  c0: 1/3/2 -> P 1/3, R 1/2;  c1: 1/1/2 -> P 1, R 1/2;
#                                     c2: 2/2/2 -> P 1,   R 1.
# C-P = (1/3 + 1 + 1) / 3 = 7/9;  C-R = (1/2 + 1/2 + 1) / 3 = 2/3;
# C-F1 = 2 (7/9)(2/3) / (7/9 + 2/3) = (28/27) / (13/9) = 28/39.
# Pooled: tp 4, predicted 6, true 6 -> O-P = O-R = O-F1 = 2/3.
# Per image (tp/pred/true): i0 1/1/2 -> P 1, R 1/2; i1 1/2/1 -> P 1/2, R 1; i2 1/1/2 -> P 1, R 1/2;
#                           i3 1/2/1 -> P 1/2, R 1.  O-P = O-R = O-F1 = 3/4.


def assert_metrics(actual: dict, expected: dict) -> None:
    assert set(actual) == {"C-P", "C-R", "C-F1", "O-P", "O-R", "O-F1"}
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=1e-12), name


def test_pooled_convention_by_hand():
    assert_metrics(
        multilabel_metrics(Y_TRUE, Y_PRED),
        {"C-P": 7 / 9, "C-R": 2 / 3, "C-F1": 28 / 39, "O-P": 2 / 3, "O-R": 2 / 3, "O-F1": 2 / 3},
    )


def test_per_image_convention_by_hand():
    assert_metrics(
        multilabel_metrics(Y_TRUE, Y_PRED, convention="per_image"),
        {"C-P": 7 / 9, "C-R": 2 / 3, "C-F1": 28 / 39, "O-P": 3 / 4, "O-R": 3 / 4, "O-F1": 3 / 4},
    )


def test_class_f1_is_harmonic_mean_of_averages_not_average_of_f1s():
    # Per-class F1s: c0 2(1/3)(1/2)/(5/6) = 2/5, c1 2/3, c2 1; their mean 31/45 != 28/39.
    c_f1 = multilabel_metrics(Y_TRUE, Y_PRED)["C-F1"]
    assert c_f1 == pytest.approx(28 / 39)
    assert c_f1 != pytest.approx(31 / 45)


def test_bool_and_integer_inputs_agree():
    assert multilabel_metrics(Y_TRUE.astype(bool), Y_PRED.astype(bool)) == multilabel_metrics(
        Y_TRUE.astype(np.float32), Y_PRED.astype(np.uint8)
    )


def test_perfect_prediction_scores_one():
    ones = {name: 1.0 for name in multilabel.METRIC_NAMES}
    assert_metrics(multilabel_metrics(Y_TRUE, Y_TRUE), ones)


# 3 images x 3 classes: c1 is never predicted, c2 has no ground-truth positive,
# image 1 gets no label.
DEGENERATE_TRUE = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]])
DEGENERATE_PRED = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 0]])
# c0: tp 1, pred 2, true 2 -> P 1/2, R 1/2;  c1: never predicted -> P 0, R 0/1 = 0;
# c2: tp 0, pred 1, true 0 -> P 0, R 0 ("zero") or left out ("exclude").
# Pooled: tp 1, pred 3, true 3 -> O-P = O-R = 1/3.
# Per image: i0 tp1 pred2 true1 -> P 1/2, R 1;  i1 nothing predicted -> P 0, R 0;  i2 P 0, R 0.
#            O-P = 1/6, O-R = 1/3, O-F1 = 2 (1/6)(1/3) / (1/2) = 2/9.


def test_never_predicted_class_and_class_without_positives_count_as_zero():
    assert_metrics(
        multilabel_metrics(DEGENERATE_TRUE, DEGENERATE_PRED),
        {"C-P": 1 / 6, "C-R": 1 / 6, "C-F1": 1 / 6, "O-P": 1 / 3, "O-R": 1 / 3, "O-F1": 1 / 3},
    )


def test_exclude_drops_class_without_positives_from_class_averages_only():
    # C-P = (1/2 + 0) / 2, C-R = (1/2 + 0) / 2; pooled O-* unchanged (c2's false positive counts).
    assert_metrics(
        multilabel_metrics(DEGENERATE_TRUE, DEGENERATE_PRED, empty_truth="exclude"),
        {"C-P": 1 / 4, "C-R": 1 / 4, "C-F1": 1 / 4, "O-P": 1 / 3, "O-R": 1 / 3, "O-F1": 1 / 3},
    )


def test_image_without_prediction_has_precision_zero_per_image():
    assert_metrics(
        multilabel_metrics(DEGENERATE_TRUE, DEGENERATE_PRED, convention="per_image"),
        {"O-P": 1 / 6, "O-R": 1 / 3, "O-F1": 2 / 9},
    )


def test_image_without_ground_truth_per_image_zero_or_excluded():
    y_true = np.array([[1, 0], [0, 0]])
    y_pred = np.array([[1, 0], [0, 1]])
    # i0: P 1, R 1.  i1 (no truth): P 0/1 = 0, R 0 ("zero") or left out ("exclude").
    zero = multilabel_metrics(y_true, y_pred, convention="per_image")
    assert (zero["O-P"], zero["O-R"]) == pytest.approx((0.5, 0.5))
    excluded = multilabel_metrics(y_true, y_pred, convention="per_image", empty_truth="exclude")
    assert (excluded["O-P"], excluded["O-R"]) == pytest.approx((1.0, 1.0))
    # Pooled ignores the choice: tp 1, predicted 2, true 1.
    pooled = multilabel_metrics(y_true, y_pred, empty_truth="exclude")
    assert (pooled["O-P"], pooled["O-R"]) == pytest.approx((0.5, 1.0))


@pytest.mark.parametrize("convention", ["pooled", "per_image"])
def test_empty_predictions_give_zeros_without_numpy_warnings(convention):
    with np.errstate(all="raise"):
        metrics = multilabel_metrics(Y_TRUE, np.zeros_like(Y_TRUE), convention=convention)
    assert_metrics(metrics, {name: 0.0 for name in multilabel.METRIC_NAMES})


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "differ in shape"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "at least one image"),
        (np.zeros((2, 3)), np.full((2, 3), 0.7), "only 0 and 1"),
        (np.array([["a"]]), np.array([["a"]]), "bool or numeric"),
    ],
)
def test_bad_inputs_raise(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        multilabel_metrics(y_true, y_pred)


def test_unknown_convention_and_empty_truth_raise():
    with pytest.raises(ValueError, match="convention"):
        multilabel_metrics(Y_TRUE, Y_PRED, convention="micro")
    with pytest.raises(ValueError, match="empty_truth"):
        multilabel_metrics(Y_TRUE, Y_PRED, empty_truth="skip")


def test_sequences_to_multi_hot_ignores_specials_and_repeats():
    # Label token = class + 3; 0 <pad>, 1 <start>, 2 <end> are ignored; class 2 repeated once.
    sequences = [[3, 5, 5, 2, 0], [1, 4], []]
    expected = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(sequences_to_multi_hot(sequences, num_classes=3), expected)


def test_sequences_to_multi_hot_array_input_and_end_id():
    sequences = np.array([[3, 2, 4, 0], [5, 4, 0, 0]], dtype=np.int32)  # [N=2, T=4]
    np.testing.assert_array_equal(
        sequences_to_multi_hot(sequences, 3), [[True, True, False], [False, True, True]]
    )
    # With end_id, the 4 after the first <end> (2) no longer counts.
    np.testing.assert_array_equal(
        sequences_to_multi_hot(sequences, 3, end_id=2), [[True, False, False], [False, True, True]]
    )


def test_sequences_to_multi_hot_custom_offset_and_empty_batch():
    np.testing.assert_array_equal(sequences_to_multi_hot([[0, 1]], 2, offset=0), [[True, True]])
    assert sequences_to_multi_hot([], 4).shape == (0, 4)


def test_sequences_to_multi_hot_rejects_out_of_range_and_non_integer_tokens():
    with pytest.raises(ValueError, match="token 6 is beyond the 3 labels"):
        sequences_to_multi_hot([[3, 6]], num_classes=3)
    with pytest.raises(ValueError, match="non-integer"):
        sequences_to_multi_hot([[3.0, 4.0]], num_classes=3)
    with pytest.raises(ValueError, match="2-D"):
        sequences_to_multi_hot(np.array([3, 4]), num_classes=3)


def test_decoded_sequences_to_metrics_end_to_end():
    # Ground truth from label sequences, predictions from a decoder's [N, T] output.
    truth = sequences_to_multi_hot([[3, 4], [5]], num_classes=3)
    predicted = sequences_to_multi_hot(np.array([[3, 2, 0], [5, 4, 2]]), num_classes=3)
    # tp 2, predicted 3, true 3 -> O-P = O-R = 2/3.
    metrics = multilabel_metrics(truth, predicted)
    assert (metrics["O-P"], metrics["O-R"]) == pytest.approx((2 / 3, 2 / 3))


def test_top_k_picks_highest_and_breaks_ties_by_lower_index():
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.5],  # 0.9 then a tie between classes 2 and 3 -> 1 and 2
            [0.3, 0.3, 0.3, 0.3],  # all tied -> the 3 lowest indices for k=3
            [-np.inf, 2.0, -1.0, 0.0],  # logits work too
        ]
    )
    np.testing.assert_array_equal(
        top_k_multi_hot(scores, k=2), [[0, 1, 1, 0], [1, 1, 0, 0], [0, 1, 0, 1]]
    )
    np.testing.assert_array_equal(top_k_multi_hot(scores, k=3)[1], [1, 1, 1, 0])
    assert top_k_multi_hot(scores).sum(axis=1).tolist() == [3, 3, 3]  # the default is k=3
    assert top_k_multi_hot(scores).dtype == bool


def test_top_k_unsigned_scores_rank_correctly():
    scores = np.array([[1, 200, 7]], np.uint8)  # negating uint8 would wrap around
    np.testing.assert_array_equal(top_k_multi_hot(scores, k=1), [[0, 1, 0]])


@pytest.mark.parametrize(
    "scores, k, message",
    [
        (np.zeros((2, 3)), 4, "k must be in"),
        (np.zeros((2, 3)), 0, "k must be in"),
        (np.array([[0.1, np.nan]]), 1, "NaN"),
        (np.zeros(3), 1, "2-D"),
    ],
)
def test_top_k_bad_inputs_raise(scores, k, message):
    with pytest.raises(ValueError, match=message):
        top_k_multi_hot(scores, k=k)


def test_threshold_is_inclusive_and_may_predict_nothing():
    scores = np.array([[0.5, 0.49, 0.9], [0.1, 0.2, 0.3]])
    np.testing.assert_array_equal(threshold_multi_hot(scores), [[1, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(
        threshold_multi_hot(scores, threshold=0.25), [[1, 1, 1], [0, 0, 1]]
    )


def test_format_table_paper_column_order_percent_two_decimals():
    table = format_table(
        {
            "Ours": multilabel_metrics(Y_TRUE, Y_PRED),
            "CNN-RNN [31]": {"C-P": 0.666, "C-R": 0.558},  # a published row without O-*
        }
    )
    lines = table.split("\n")
    assert lines[0].split() == ["method", "C-R", "C-P", "C-F1", "O-R", "O-P", "O-F1"]
    assert set(lines[1]) == {"-"}
    # C-R 2/3, C-P 7/9, C-F1 28/39, O-R = O-P = O-F1 = 2/3, x100.
    assert lines[2].split() == ["Ours", "66.67", "77.78", "71.79", "66.67", "66.67", "66.67"]
    assert lines[3].split() == ["CNN-RNN", "[31]", "55.80", "66.60", "-", "-", "-", "-"]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_format_table_custom_columns():
    table = format_table({"a": {"O-F1": 0.12345}}, columns=("O-F1",))
    assert table.split("\n")[2].split() == ["a", "12.35"]
