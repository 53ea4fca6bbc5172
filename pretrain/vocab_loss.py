"""Tied vocabulary projection + cross-entropy, chunked over the target rows.

The MLM and SBO heads end in logits = x E^T + b over the whole vocabulary, and the plain way
(`F.cross_entropy(logits.float(), labels)`) keeps the [targets, vocab] logits, their float32 copy
and the float32 softmax alive until the backward pass: at BERT base with 32 x 512 tokens that is
~2,700 targets x 28,996 ids, about 0.9 GB per head in bf16 + fp32. Here the loss is computed chunk
by chunk of rows, and the gradients with respect to x, E and b are formed in the same pass (as
Liger-Kernel's fused linear cross-entropy does): only one chunk's float32 logits ever exist, and
the backward pass just scales the stored gradients. Same arithmetic as the plain path: the matrix
products run in the autocast dtype, the log-softmax in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100
CHUNK_ROWS = 1024  # float32 logits of one chunk: 1024 x 28,996 x 4 B = 119 MB


def linear_cross_entropy(
    inputs: Tensor, weight: Tensor, bias: Tensor, labels: Tensor, chunk_rows: int = CHUNK_ROWS
) -> Tensor:
    """Mean cross-entropy of F.linear(inputs, weight, bias) against labels, over labels != IGNORE.

    inputs [N, H], weight [V, H], bias [V], labels [N]. Rows labelled IGNORE (padding of a fixed
    target bucket) count for nothing; with no target at all the loss is 0, still on the graph.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (inputs, weight, bias)):
        return _LinearCrossEntropy.apply(inputs, weight, bias, labels, chunk_rows)
    with torch.no_grad():
        return _chunked(inputs, weight, bias, labels, chunk_rows, with_grads=False)[0]


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, weight, bias, labels, chunk_rows):
        loss, grads = _chunked(inputs, weight, bias, labels, chunk_rows, with_grads=True)
        ctx.save_for_backward(*grads)
        ctx.dtypes = (inputs.dtype, weight.dtype, bias.dtype)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grads = [(g * grad_loss).to(dtype) for g, dtype in zip(ctx.saved_tensors, ctx.dtypes, strict=True)]
        return *grads, None, None


def _chunked(
    inputs: Tensor, weight: Tensor, bias: Tensor, labels: Tensor, chunk_rows: int, with_grads: bool
) -> tuple[Tensor, list[Tensor]]:
    """(mean loss, [d loss/d inputs, d loss/d weight, d loss/d bias] or []), one row chunk at a time."""
    dtype = _matmul_dtype(inputs)
    x, w, b = inputs.to(dtype), weight.to(dtype), bias.to(dtype)
    valid = labels != IGNORE  # [N]
    # Dividing by the count on the device keeps the host out of it (no .item()).
    scale = 1.0 / valid.sum().clamp(min=1).float()
    safe_labels = labels.clamp(min=0)
    loss = torch.zeros((), dtype=torch.float32, device=inputs.device)
    grads = [torch.zeros_like(x), torch.zeros_like(weight, dtype=torch.float32)] if with_grads else []
    grads += [torch.zeros_like(bias, dtype=torch.float32)] if with_grads else []
    for start in range(0, x.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        logits = F.linear(x[rows], w, b).float()  # [C, V], the only float32 logits alive
        log_z = torch.logsumexp(logits, dim=-1, keepdim=True)  # [C, 1]
        picked = logits.gather(1, safe_labels[rows, None])  # [C, 1]
        row_weight = valid[rows, None].float() * scale  # [C, 1]: 1/count on targets, 0 on padding
        loss = loss + ((log_z - picked) * row_weight).sum()
        if with_grads:
            _add_chunk_grads(grads, logits, log_z, safe_labels[rows], row_weight, x[rows], w, rows)
    return loss, grads


def _add_chunk_grads(
    grads: list[Tensor],
    logits: Tensor,
    log_z: Tensor,
    labels: Tensor,
    row_weight: Tensor,
    x: Tensor,
    w: Tensor,
    rows: slice,
) -> None:
    """d loss / d logits = (softmax - one_hot) * row_weight, then through the linear layer."""
    grad_logits = logits.sub_(log_z).exp_()  # softmax, in place on the float32 chunk
    grad_logits.scatter_add_(1, labels[:, None], torch.full_like(log_z, -1.0))
    grad_logits = (grad_logits * row_weight).to(x.dtype)  # [C, V], in the matmul dtype as autograd's
    grads[0][rows] = grad_logits @ w  # [C, H]
    grads[1] += grad_logits.t() @ x  # [V, H]
    grads[2] += grad_logits.float().sum(0)  # [V]


def _matmul_dtype(inputs: Tensor) -> torch.dtype:
    """The dtype F.linear would compute in here: the autocast dtype when autocast is on."""
    device = inputs.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else inputs.dtype
