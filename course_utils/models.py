"""The PyTorch models the chapters train and the capstone compares.

All models take **batch-first** input (as :func:`course_utils.training.fit` feeds them) and
return logits ``(B, C)`` for classification or predictions ``(B,)`` for regression. Recurrent
models transpose to time-major inside, because ``nn.RNN``/``nn.LSTM``/``nn.GRU`` default to
``(T, B, D)``, the layout of the course's NumPy code.
"""

from __future__ import annotations

import torch
from torch import nn

RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class TextCNN(nn.Module):
    """Kim (2014)-style CNN: embeddings, parallel 1-D convolutions of several widths, ReLU,
    max-over-time pooling, dropout, a linear classifier.

    tokens : int64 (B, L) with 0 as padding. Returns logits (B, n_classes).
    """

    def __init__(self, vocab_size: int, n_classes: int = 2, embed_dim: int = 64,
                 widths: tuple[int, ...] = (3, 4, 5), channels: int = 64, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, channels, w) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(channels * len(widths), n_classes)
        self.widths = widths

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector (B, channels * len(widths)), whatever the length L."""
        # pad short inputs so the widest filter fits at least once
        min_len = max(self.widths)
        if tokens.shape[1] < min_len:
            tokens = nn.functional.pad(tokens, (0, min_len - tokens.shape[1]))
        e = self.embed(tokens).transpose(1, 2)  # Conv1d wants (B, channels, L)
        return torch.cat([torch.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.features(tokens)))


class SequenceCNN(TextCNN):
    """:class:`TextCNN` for real-valued sequences: a linear projection replaces the embedding.

    x : float (B, T, input_dim). Returns (B, n_outputs), or (B,) when n_outputs == 1.
    """

    def __init__(self, input_dim: int, n_outputs: int = 1, embed_dim: int = 16,
                 widths: tuple[int, ...] = (3, 4, 5), channels: int = 32, dropout: float = 0.0):
        super().__init__(vocab_size=1, n_classes=n_outputs, embed_dim=embed_dim,
                         widths=widths, channels=channels, dropout=dropout)
        self.embed = nn.Linear(input_dim, embed_dim)
        self.n_outputs = n_outputs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x).transpose(1, 2)  # (B, embed_dim, T)
        return torch.cat([torch.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y.squeeze(-1) if self.n_outputs == 1 else y


class RecurrentModel(nn.Module):
    """An RNN, LSTM or GRU reading a sequence; a linear layer on its last hidden state.

    kind : "rnn", "lstm" or "gru".
    vocab_size : set it for token input (int64 (B, T)); an embedding of ``embed_dim`` is used.
    input_dim : set it instead for real-valued input (float (B, T, input_dim)).
    n_outputs : number of classes, or 1 for regression (then the output is (B,)).
    Pad token sequences at the *front* (``pad_sequences(..., padding="pre")``) so that the last
    step read is a real token.
    """

    def __init__(self, kind: str, hidden: int, n_outputs: int, *, vocab_size: int | None = None,
                 input_dim: int | None = None, embed_dim: int = 32,
                 nonlinearity: str = "tanh", forget_bias: float | None = None):
        super().__init__()
        if kind not in RECURRENT:
            raise ValueError(f"kind must be one of {sorted(RECURRENT)}, got {kind!r}")
        if (vocab_size is None) == (input_dim is None):
            raise ValueError("give exactly one of vocab_size (tokens) or input_dim (real values)")
        self.kind = kind
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0) if vocab_size else None
        d = embed_dim if vocab_size else input_dim
        extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        self.rnn = RECURRENT[kind](d, hidden, **extra)
        if forget_bias is not None:
            if kind != "lstm":
                raise ValueError("forget_bias applies to the LSTM only")
            with torch.no_grad():  # rows H:2H of both biases belong to the forget gate
                for b in (self.rnn.bias_ih_l0, self.rnn.bias_hh_l0):
                    b[hidden:2 * hidden] = forget_bias / 2
        self.head = nn.Linear(hidden, n_outputs)
        self.n_outputs = n_outputs

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """All hidden states, time-major (T, B, H)."""
        if self.embed is not None:
            x = self.embed(x)
        out, _ = self.rnn(x.transpose(0, 1))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.states(x)[-1])
        return y.squeeze(-1) if self.n_outputs == 1 else y


class DeepMLP(nn.Module):
    """A deep tanh MLP for the vanishing-gradient experiments of chapter 05.

    An input layer, ``depth`` hidden layers of ``width`` units and a linear output. Hidden layer
    l computes ``F_l(a) = tanh(W_l a + b_l)``; a plain net stacks ``a <- F_l(a)``, a residual net
    ``a <- a + F_l(a)`` (so each block's Jacobian is ``I + dF_l/da``). PyTorch's default
    initialisation; seed with ``torch.manual_seed`` first, or use
    :func:`course_utils.pathologies.deep_mlp`. ``hidden`` lists the hidden ``nn.Linear`` layers,
    input side first.

    x : float32 (B, in_dim). Returns logits (B, n_outputs).
    """

    def __init__(self, depth: int, width: int = 32, *, residual: bool = False, in_dim: int = 2,
                 n_outputs: int = 2):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.out = nn.Linear(width, n_outputs)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(x))
        for layer in self.hidden:
            f = torch.tanh(layer(h))
            h = h + f if self.residual else f
        return self.out(h)
