"""The three training stages (cnn, rnn, joint) as custom tf.function loops."""
