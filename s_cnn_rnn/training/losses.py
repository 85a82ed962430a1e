"""The paper's two losses (Eq. 4, 5), per example, for custom distributed loops.

Both return one value per example; the loop divides their sum by the GLOBAL batch size
(`tf.nn.compute_average_loss`) so that replicas' gradients add up to the full-batch one.
"""

import tensorflow as tf


def concept_loss(concept_targets, concept_logits):
    """L_u (T1): binary cross-entropy summed over the k concepts (Eq. 5, negated).

    Args:
      concept_targets: float [batch, k] ground-truth multi-hot s.
      concept_logits: [batch, k] pre-sigmoid concept scores (float32).

    Returns:
      float32 [batch]: the per-image loss.
    """
    per_concept = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(concept_targets, tf.float32), logits=tf.cast(concept_logits, tf.float32)
    )
    return tf.reduce_sum(per_concept, axis=-1)


def sequence_loss(target_ids, target_mask, sequence_logits):
    """L_r (T2): negative log-likelihood of the target sequence, summed over time steps.

    Args:
      target_ids: int [batch, time] next tokens (ending with <end>), 0-padded.
      target_mask: float [batch, time] 1 on real positions.
      sequence_logits: [batch, time, vocab] teacher-forced decoder logits.

    Returns:
      float32 [batch]: the per-sequence loss.
    """
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(target_ids, tf.int32), logits=tf.cast(sequence_logits, tf.float32)
    )
    return tf.reduce_sum(nll * tf.cast(target_mask, tf.float32), axis=-1)
