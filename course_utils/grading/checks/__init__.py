"""Exercise checkers: ``checks.NAME(your_function)`` prints feedback and returns a result.

Each checker calls your function on several seeded cases (random, non-square shapes, float32
and float64, edge cases), compares every output with the course's reference implementation,
and tells you which output and which element differ, by how much, and, when your output matches
a common mistake, a hint about that mistake. The result is truthy only when every case passes.

For maintainers: one module per chapter (``ch03_rnn`` holds chapter 03's checkers with their
cases, references and known wrong variants); ``common`` has the case generators that several
chapters share; ``course_answers`` lists, per exercise, the course functions a learner's function
must not call; the machinery that runs a checker is ``course_utils.grading.checking``. This file
only re-exports the checkers, so notebooks keep writing ``checks.rnn_step(fn)``.
"""

from course_utils.grading.checks import course_answers  # noqa: F401 - fills checking.COURSE_ANSWERS
from course_utils.grading.checks.ch00_softmax import masked_softmax, softmax, softmax_backward
from course_utils.grading.checks.ch01_tfidf import (
    cosine_similarity,
    count_matrix,
    predict_bigram_cosine,
    tfidf,
    tfidf_transform,
)
from course_utils.grading.checks.ch02_cnn import (
    conv_maxpool_backward,
    conv_relu_maxpool,
    order_cnn,
    predict_dilation_holes,
    receptive_field,
)
from course_utils.grading.checks.ch03_rnn import cross_entropy, predict_latch_weight, rnn_step
from course_utils.grading.checks.ch04_bptt import (
    bptt,
    numerical_gradient,
    predict_error_ratio,
    rnn_classifier_grads,
)
from course_utils.grading.checks.ch05_pathologies import (
    clip_grad_norm,
    jacobian_norms,
    predict_weak_input_gradient,
    relu_rnn_init,
    scale_to_spectral_radius,
)
from course_utils.grading.checks.ch06_lstm import (
    cell_path_gradient,
    lstm_bptt,
    lstm_step,
    predict_forget_bias,
)
from course_utils.grading.checks.ch07_gru import (
    flip_update_gate,
    gru_bptt,
    gru_step,
    predict_wine_share,
)
from course_utils.grading.checks.ch08_capstone import recurrent_param_count, surname_gru

__all__ = [
    # graded: each compares the learner's function with a reference on seeded cases
    "softmax", "masked_softmax", "softmax_backward",
    "count_matrix", "tfidf", "tfidf_transform", "cosine_similarity",
    "conv_relu_maxpool", "receptive_field", "conv_maxpool_backward",
    "rnn_step", "cross_entropy",
    "numerical_gradient", "bptt", "rnn_classifier_grads",
    "clip_grad_norm", "scale_to_spectral_radius", "jacobian_norms",
    "lstm_step", "cell_path_gradient", "lstm_bptt",
    "gru_step", "flip_update_gate", "gru_bptt",
    "recurrent_param_count",
    # graded designs: each trains the learner's model against a measured target
    "order_cnn", "relu_rnn_init", "surname_gru",
    # "predict, then run": shown next to the experiment's result, never graded
    "predict_bigram_cosine", "predict_dilation_holes", "predict_latch_weight",
    "predict_error_ratio", "predict_weak_input_gradient", "predict_forget_bias",
    "predict_wine_share",
]
