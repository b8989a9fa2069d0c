"""Exercise checkers: ``checks.NAME(your_function)`` prints feedback and returns a result.

Each checker calls your function on several seeded cases (random, non-square shapes, float32
and float64, edge cases), compares every output with the course's reference implementation,
and tells you which output and which element differ, by how much, and, when your output matches
a common mistake, a hint about that mistake. The result is truthy only when every case passes.

For maintainers: one module per chapter (``ch03_rnn`` holds chapter 03's checkers with their
cases, references and known wrong variants); ``common`` has the case generators that several
chapters share; the machinery that runs a checker is ``course_utils.checking``. This file only
re-exports the checkers, so notebooks keep writing ``checks.rnn_step(fn)``.
"""

from course_utils.checks.ch00_softmax import softmax, softmax_backward
from course_utils.checks.ch01_tfidf import cosine_similarity, count_matrix, tfidf
from course_utils.checks.ch02_cnn import (
    conv_maxpool_backward,
    conv_relu_maxpool,
    order_cnn,
    predict_dilation_holes,
    receptive_field,
)
from course_utils.checks.ch03_rnn import cross_entropy, rnn_step
from course_utils.checks.ch04_bptt import bptt, numerical_gradient, rnn_classifier_grads
from course_utils.checks.ch05_pathologies import (
    clip_grad_norm,
    jacobian_norms,
    scale_to_spectral_radius,
)
from course_utils.checks.ch06_lstm import cell_path_gradient, lstm_bptt, lstm_step
from course_utils.checks.ch07_gru import flip_update_gate, gru_bptt, gru_step
from course_utils.checks.ch08_capstone import recurrent_param_count, surname_gru

__all__ = [
    "softmax", "softmax_backward",
    "count_matrix", "tfidf", "cosine_similarity",
    "conv_relu_maxpool", "receptive_field",
    "rnn_step", "cross_entropy",
    "bptt", "numerical_gradient",
    "clip_grad_norm", "scale_to_spectral_radius", "jacobian_norms",
    "lstm_step", "cell_path_gradient",
    "gru_step", "flip_update_gate",
    "recurrent_param_count", "surname_gru",
    # derivations (issue 13): backward passes
    "conv_maxpool_backward", "rnn_classifier_grads", "lstm_bptt", "gru_bptt",
    # chapter 02 (issue 13): a prediction and a design
    "predict_dilation_holes", "order_cnn",
]
