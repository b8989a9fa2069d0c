"""Which course functions compute each exercise's answer: a learner's function must not call them.

``checking.run_check`` watches the learner's call (``checking.CourseCallWatch``) and fails it
with a message naming the function when one of these runs, however it was reached: the function
object itself, an alias, a lambda, a closure or a helper of the learner's. The checker's own
reference is always watched too, so only course functions outside the checker are listed here:
the reference implementation and any course function that returns the answer or its main part.

Every graded function exercise appears here, with an empty tuple when the course has no
implementation of its answer besides the checker's reference (``tests/test_own_work.py`` keeps
this list and ``checks.__all__`` in step). Names are ``module.qualname`` strings, so listing a
torch-based function imports nothing.
"""

from __future__ import annotations

from course_utils.grading.checking import COURSE_ANSWERS

_SCRATCH = "course_utils.scratch."
# chapters 03-04's stubs promise that nothing of scratch may be called ("*": a name prefix)
_RNN = (_SCRATCH + "*",)
# chapters 06-07's stubs offer scratch.sigmoid and reject scratch.lstm_* / gru_*
_LSTM = (_SCRATCH + "lstm_*",)
_GRU = (_SCRATCH + "gru_*",)

TABLE: dict[str, tuple[str, ...]] = {
    # chapter 00
    "softmax": ("course_utils.softmax.softmax",),
    "masked_softmax": ("course_utils.softmax.softmax",),
    "softmax_backward": ("course_utils.softmax.softmax_backward",),
    # chapter 01
    "count_matrix": ("course_utils.bow.count_matrix", "course_utils.bow.tfidf_from_docs"),
    "tfidf": ("course_utils.bow.tfidf", "course_utils.bow.idf",
              "course_utils.bow.tfidf_from_docs"),
    "tfidf_transform": ("course_utils.bow.tfidf", "course_utils.bow.idf",
                        "course_utils.bow.tfidf_from_docs"),
    "cosine_similarity": ("course_utils.bow.cosine_similarity",),
    # chapter 02
    "conv_relu_maxpool": ("course_utils.cnn.conv_relu_maxpool", "course_utils.cnn.conv1d",
                          "course_utils.cnn.max_over_time"),
    "receptive_field": ("course_utils.cnn.receptive_field",
                        "course_utils.cnn.receptive_field_table"),
    # the stub asks for the derivation: PyTorch's automatic differentiation is the answer
    "conv_maxpool_backward": ("torch.autograd.backward", "torch.autograd.grad"),
    # chapter 03
    "rnn_step": _RNN,
    "cross_entropy": _RNN + ("course_utils.softmax.cross_entropy",),
    # chapter 04
    "numerical_gradient": _RNN,
    "bptt": _RNN,
    "rnn_classifier_grads": _RNN + ("course_utils.softmax.cross_entropy",),
    # chapter 05
    "clip_grad_norm": (_SCRATCH + "clip_grad_norm",),
    "scale_to_spectral_radius": ("course_utils.pathologies.scale_to_spectral_radius",
                                 "course_utils.pathologies.spectral_radius"),
    "jacobian_norms": ("course_utils.pathologies.jacobian_norms",
                       "course_utils.pathologies.rnn_jacobian_norms",
                       "course_utils.pathologies.step_jacobians",
                       "course_utils.pathologies.product_norms"),
    # chapter 06
    "lstm_step": _LSTM,
    "cell_path_gradient": _LSTM,
    "lstm_bptt": _LSTM,
    # chapter 07
    "gru_step": _GRU,
    "flip_update_gate": _GRU,
    "gru_bptt": _GRU,
    # chapter 08: building the PyTorch module and counting its parameters is PyTorch's answer
    "recurrent_param_count": ("torch.nn.modules.rnn.RNNBase.__init__",),
}

# "predict, then run": a prediction function must not call the experiment it predicts
_CHECKS = "course_utils.grading.checks."
PREDICTIONS: dict[str, tuple[str, ...]] = {
    "predict_bigram_cosine": (_CHECKS + "ch01_tfidf.bigram_*",),
    "predict_dilation_holes": (_CHECKS + "ch02_cnn.dilated_layer_accuracies",),
    "predict_latch_weight": (_CHECKS + "ch03_rnn.smallest_latch_weight",
                             _CHECKS + "ch03_rnn.latch_accuracy"),
    "predict_error_ratio": (_CHECKS + "ch04_bptt.measured_error_ratio",
                            _CHECKS + "ch04_bptt.central_difference_errors"),
    "predict_weak_input_gradient": ("course_utils.pathologies.weak_input_gradient",),
    "predict_forget_bias": ("course_utils.gates.bias_for_retention",
                            "course_utils.gates.cell_retention"),
    "predict_wine_share": ("course_utils.wine.new_wine_share",),
}

COURSE_ANSWERS.update(TABLE)
COURSE_ANSWERS.update(PREDICTIONS)
