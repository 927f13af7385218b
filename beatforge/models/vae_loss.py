"""The chart VAE's training loss (Mug Diffusion's ManiaReconstructLoss, with its valid mask actually used).

Every term is a mean over the cells that carry information for it: columns below the example's key count, and
frames where ``valid`` is 1 (Mug forced its mask to all-ones, so padding after a chart's end was trained as
"no notes" with the same weight as the chart itself). Offsets are only defined where there is something to
place, so their MSE is restricted further: start offsets to frames where a note starts, end offsets to cells
where the target carries an end offset (a long note's end frame, or, for a long note shorter than a frame, its
start frame; see :mod:`beatforge.charts.mania_tensor`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from beatforge.config import FirstStageConfig
from beatforge.constants import MAX_KEYS
from beatforge.models.vae import DiagonalGaussian, column_mask

__all__ = ["vae_loss"]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over cells where ``mask`` is 1 (0 when the mask is empty, with a gradient path).

    ``where`` rather than a product, so a non-finite value in an ignored cell (padding, fp16 overflow) stays out.
    """
    return torch.where(mask > 0, values, torch.zeros_like(values)).sum() / mask.sum().clamp_min(1.0)


def vae_loss(
    out: Tensor,
    x: Tensor,
    keys: Tensor,
    valid: Tensor,
    posterior: DiagonalGaussian,
    cfg: FirstStageConfig,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Reconstruction + KL loss.

    Args:
        out: (B, 4*MAX_KEYS, T) decoder output in chart space (start/holding logits, offsets in [0, 1]).
        x: (B, 4*MAX_KEYS, T) target padded chart tensor.
        keys: (B,) int64 key counts; columns >= keys are ignored.
        valid: (B, T) float, 1 on the frames that count.
        posterior: the encoder's posterior (its per-example KL is averaged over the batch).
        cfg: loss weights (``weight_holding``, ``weight_start_offset``, ``weight_end_offset``, ``kl_weight``,
            ``label_smoothing``).

    Returns:
        (loss, parts): the scalar loss and detached parts ``rec/bce_start``, ``rec/bce_hold``,
        ``rec/mse_start``, ``rec/mse_end``, ``kl``, ``loss``.
    """
    b, c, t = x.shape
    if out.shape != x.shape or c != 4 * MAX_KEYS:
        raise ValueError(f"out {tuple(out.shape)} and x {tuple(x.shape)} must both be (B, {4 * MAX_KEYS}, T)")
    if valid.shape != (b, t):
        raise ValueError(f"valid must be (B, T) = ({b}, {t}), got {tuple(valid.shape)}")
    o = out.reshape(b, 4, MAX_KEYS, t)  # (B, 4, W, T): is_start, start_offset, is_holding, end_offset
    y = x.reshape(b, 4, MAX_KEYS, t)
    mask = column_mask(keys, MAX_KEYS)[:, :, None].to(x.dtype) * valid[:, None, :].to(x.dtype)  # (B, W, T)

    eps = cfg.label_smoothing  # binary label smoothing: targets 0/1 -> eps/2, 1 - eps/2
    targets = y[:, 0::2] * (1.0 - eps) + 0.5 * eps  # (B, 2, W, T): is_start, is_holding
    bce = F.binary_cross_entropy_with_logits(o[:, 0::2], targets, reduction="none")  # (B, 2, W, T)
    bce_start = _masked_mean(bce[:, 0], mask)
    bce_hold = _masked_mean(bce[:, 1], mask)
    mse_start = _masked_mean((o[:, 1] - y[:, 1]).pow(2), mask * (y[:, 0] > 0.5).to(x.dtype))
    mse_end = _masked_mean((o[:, 3] - y[:, 3]).pow(2), mask * (y[:, 3] > 0).to(x.dtype))
    kl = posterior.kl().mean()

    loss = (
        bce_start
        + cfg.weight_holding * bce_hold
        + cfg.weight_start_offset * mse_start
        + cfg.weight_end_offset * mse_end
        + cfg.kl_weight * kl
    )
    parts = {
        "rec/bce_start": bce_start,
        "rec/bce_hold": bce_hold,
        "rec/mse_start": mse_start,
        "rec/mse_end": mse_end,
        "kl": kl,
        "loss": loss,
    }
    return loss, {k: v.detach() for k, v in parts.items()}
