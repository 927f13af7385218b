"""Lightning system for the chart VAE (stage 1): loss, logging and optimiser around :class:`ChartVAE`.

The network is ``self.vae``, so a checkpoint's weights are ``vae.*`` and the config rides along as plain data
(``hyper_parameters["config"]``, a nested dict) for rebuilding the model without code or pickled objects.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from beatforge.charts import mania_tensor
from beatforge.config import Config, from_dict, to_dict
from beatforge.evaluation.matching import note_f1
from beatforge.models.vae import ChartVAE
from beatforge.models.vae_loss import vae_loss

__all__ = ["AutoencoderSystem", "batch_note_f1"]


def batch_note_f1(out: Tensor, x: Tensor, keys: Tensor, valid: Tensor, *, tol_ms: float = 5.0) -> float:
    """Mean over the batch of :func:`note_f1` between the decoded output and the decoded target.

    Each example is cut to its valid frames first: the loss never sees the frames after a chart's end, so what
    the decoder puts there is unconstrained and would only count as false positives.
    """
    out_np = out.detach().float().cpu().numpy()
    x_np = x.detach().float().cpu().numpy()
    n_valid = valid.detach().cpu().gt(0).sum(dim=1).tolist()  # valid is a prefix mask: its sum is its length
    scores = []
    for i, k in enumerate(keys.tolist()):
        t = int(n_valid[i])
        pred = mania_tensor.decode(out_np[i, :, :t], keys=k, from_logits=True)
        ref = mania_tensor.decode(x_np[i, :, :t], keys=k)
        scores.append(note_f1(pred, ref, tol_ms=tol_ms)["f1"])
    return float(sum(scores) / max(len(scores), 1))


class AutoencoderSystem(L.LightningModule):
    """Trains :class:`ChartVAE` on batches ``{"x": (B, 40, T), "keys": (B,), "valid": (B, T), ...}``.

    Args:
        config: the full training config, or its plain-dict form (what ``load_from_checkpoint`` passes back).
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        cfg = from_dict(config) if isinstance(config, dict) else config
        self.cfg = cfg
        self.first_stage = cfg.model.params.first_stage_config
        self.vae = ChartVAE(self.first_stage)
        self.save_hyperparameters({"config": to_dict(cfg)})

    def forward(self, x: Tensor, keys: Tensor, sample_posterior: bool = True) -> tuple[Tensor, Any]:
        return self.vae(x, keys, sample_posterior=sample_posterior)

    def _step(self, batch: dict[str, Tensor], split: str, sample_posterior: bool) -> tuple[Tensor, Tensor]:
        x, keys, valid = batch["x"], batch["keys"], batch["valid"]
        out, posterior = self.vae(x, keys, sample_posterior=sample_posterior)
        loss, parts = vae_loss(out, x, keys, valid, posterior, self.first_stage)
        b = x.shape[0]
        self.log(f"{split}/loss", parts.pop("loss"), prog_bar=True, batch_size=b)
        self.log_dict({f"{split}/{k}": v for k, v in parts.items()}, batch_size=b)
        return loss, out

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, _ = self._step(batch, "train", sample_posterior=True)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        # The posterior mode: what the diffusion stage encodes its targets with.
        loss, out = self._step(batch, "val", sample_posterior=False)
        f1 = batch_note_f1(out, batch["x"], batch["keys"], batch["valid"])
        self.log("val/note_f1", f1, prog_bar=True, batch_size=batch["x"].shape[0])
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        p = self.cfg.model.params
        # The trainer sets learning_rate_override when --scale_lr multiplies the configured rate.
        lr = getattr(self, "learning_rate_override", None) or self.cfg.model.base_learning_rate
        opt = torch.optim.AdamW(self.vae.parameters(), lr=lr, weight_decay=p.weight_decay)
        warmup = max(int(p.warmup_steps), 0)

        def factor(step: int) -> float:
            return min(1.0, (step + 1) / warmup) if warmup else 1.0

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
