"""The classifier's output layer in NumPy: softmax, its backward pass, and cross-entropy.

These are the reference versions of the warm-up exercises of chapter 00; chapter 03 puts them
on top of the RNN (``y_hat_t = softmax(W_hy h_t + b_y)``).
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis.

    z : (..., C) scores. Returns probabilities of the same shape and dtype.
    Subtracting the row maximum changes nothing mathematically (it cancels between numerator
    and denominator) but fixes both floating-point failures: every exponent becomes <= 0, so
    ``exp`` cannot overflow (inf / inf), and the largest becomes exactly 0, so the denominator is
    at least 1 and cannot underflow to 0 when every score is very negative (0 / 0). A score far
    below the maximum still gets probability 0, which is right in absolute terms; where its
    logarithm is needed, use log-softmax (as :func:`cross_entropy` does). Scores of -inf are not
    supported here (a fully masked row gives NaN; chapter 00's exercise handles them).
    """
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_backward(s: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Gradient with respect to the scores, given ``s = softmax(z)`` and ``ds = dLoss/ds``.

    s, ds : (..., C). Returns dz (..., C). The Jacobian is ``diag(s) - s s^T`` per row; applied
    to ``ds`` it collapses to ``s * (ds - <ds, s>)``, so the C x C matrix is never built.
    """
    return s * (ds - np.sum(ds * s, axis=-1, keepdims=True))


def cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of scores ``z`` (B, C) against class ids ``y`` (B,), and dLoss/dz.

    Uses log-softmax (``z - logsumexp(z)``) so that a confident wrong answer gives a large
    finite loss instead of ``log(0)``. The gradient is the famous ``(softmax(z) - onehot) / B``.
    """
    z = np.asarray(z)
    y = np.asarray(y)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"expected z (B, C) and y (B,), got {z.shape} and {y.shape}")
    shifted = z - np.max(z, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    b = z.shape[0]
    loss = -float(np.mean(log_probs[np.arange(b), y]))
    dz = np.exp(log_probs)
    dz[np.arange(b), y] -= 1.0
    return loss, (dz / b).astype(z.dtype, copy=False)
