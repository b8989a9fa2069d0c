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

from course_utils.checking import COURSE_ANSWERS

_SCRATCH = "course_utils.scratch."
_RNN = (_SCRATCH + "rnn_step", _SCRATCH + "rnn_forward")
# a backward exercise may run the course's forward pass: the backward pass is the answer
_RNN_GRADS = (_SCRATCH + "rnn_backward", _SCRATCH + "last_state_classifier_grads")
# the classifier exercise offers scratch's BPTT: the head's gradient and the loss are the answer
_CLASSIFIER = (_SCRATCH + "last_state_classifier_grads", "course_utils.softmax.cross_entropy")
_LSTM = (_SCRATCH + "lstm_step", _SCRATCH + "lstm_forward", _SCRATCH + "lstm_gates",
         _SCRATCH + "_lstm_gate_values")
_GRU = (_SCRATCH + "gru_step", _SCRATCH + "gru_forward", _SCRATCH + "gru_gates",
        _SCRATCH + "_gru_gate_values")

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
    "conv_maxpool_backward": (),
    # chapter 03
    "rnn_step": _RNN,
    "cross_entropy": ("course_utils.softmax.cross_entropy",),
    # chapter 04
    "numerical_gradient": (),
    "bptt": _RNN_GRADS,
    "rnn_classifier_grads": _CLASSIFIER,
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
    "cell_path_gradient": (),
    "lstm_bptt": (_SCRATCH + "lstm_backward",),
    # chapter 07
    "gru_step": _GRU,
    "flip_update_gate": (),
    "gru_bptt": (_SCRATCH + "gru_backward",),
    # chapter 08: building the PyTorch module and counting its parameters is PyTorch's answer
    "recurrent_param_count": ("torch.nn.modules.rnn.RNNBase.__init__",),
}

COURSE_ANSWERS.update(TABLE)
