"""S-CNN-RNN: semantically regularised CNN-RNN for image annotation (Liu et al., CVPR 2017)."""
