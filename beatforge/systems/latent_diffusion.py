"""The latent diffusion system: a frozen chart VAE, and a denoiser trained on its latents.

A thin LightningModule: the networks are plain modules (``beatforge.models``), the diffusion math lives in
``beatforge.diffusion``. What this file adds is the training objective's plumbing: encoding charts to latents
with the VAE's posterior mean (as Mug Diffusion), the null prompt the model must see for classifier-free
guidance (Mug Diffusion dropped each of 21 features with p 0.5, so its all-missing null prompt occurred with
p = 0.5**21 and guidance extrapolated from a condition the model had never seen; here a whole example gets the
null prompt with ``cond_drop_p``), a validation loss on held-out songs, and a periodic generation of a validation
chart scored by rhythm F1 against the human chart.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from beatforge.charts import mania_tensor
from beatforge.evaluation.matching import rhythm_f1
from beatforge.models.latent_diffusion import LatentDiffusion, build_networks


class LatentDiffusionSystem(LatentDiffusion, L.LightningModule):
    """Training of :class:`~beatforge.models.latent_diffusion.LatentDiffusion` (same parameter names, so model
    files and checkpoints load into either)."""

    def __init__(self, config: dict, features: list[dict], meta: dict | None = None) -> None:
        """``config`` and ``features`` are plain data (beatforge.config.to_dict / FeatureTable.to_list), so a
        checkpoint's hyper-parameters never need unpickling."""
        super().__init__(config, features)
        self.save_hyperparameters({"config": config, "features": features, "meta": meta or {}})
        self._val_runs = 0

    def _latent_mask(self, valid: torch.Tensor) -> torch.Tensor:
        # (B, T) -> (B, 1, L): a latent step counts if any of its frames is valid
        return F.max_pool1d(valid[:, None, :], self.stride, self.stride)

    def _loss(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        z0 = self.encode_latent(batch["x"], batch["keys"])
        b = z0.shape[0]
        if generator is None:
            t = torch.randint(0, self.schedule.timesteps, (b,), device=z0.device)
            noise = torch.randn_like(z0)
        else:
            t = torch.randint(0, self.schedule.timesteps, (b,), generator=generator).to(z0.device)
            noise = torch.randn(z0.shape, generator=generator).to(z0.device)
        tokens = batch["tokens"]
        if self.training and self.cfg.model.params.cond_drop_p > 0:
            drop = torch.rand(b, device=z0.device) < self.cfg.model.params.cond_drop_p
            tokens = torch.where(drop[:, None], self.null_prompt(tokens), tokens)
        audio = self.denoiser.encode_audio(batch["mel"])
        pred = self.denoiser(self.schedule.add_noise(z0, noise, t), t, tokens, audio)
        return self.schedule.loss(pred, self.schedule.target(z0, noise, t), self._latent_mask(batch["valid"]))

    # ------------------------------------------------------------------------------------ lightning
    def on_train_start(self) -> None:  # after a resume has restored the buffers
        if float(self.scale_factor) <= 0:
            raise RuntimeError("latent scale not set: call measure_scale_factor before fitting")

    @torch.no_grad()
    def measure_scale_factor(self, batch: dict) -> float:
        """1 / std of the VAE latents of one batch (the LDM recipe), so the denoiser sees unit-variance data."""
        self.scale_factor.fill_(1.0)
        z = self.encode_latent(batch["x"], batch["keys"])
        self.scale_factor.fill_(1.0 / max(float(z.std()), 1e-6))
        return float(self.scale_factor)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=batch["x"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        # Fixed noise and timesteps per batch: validation losses of different epochs are comparable.
        gen = torch.Generator().manual_seed(1000 + batch_idx)
        loss = self._loss(batch, generator=gen)
        self.log("val/loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=batch["x"].shape[0])
        every = self.trainer.datamodule.cfg.lightning.generate_every_n_val if self.trainer.datamodule else 0
        if batch_idx == 0 and every and self._val_runs % every == 0 and not self.trainer.sanity_checking:
            self._log_generation(batch)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._val_runs += 1

    @torch.no_grad()
    def _log_generation(self, batch: dict) -> None:
        """Generate the first validation example's chart from its audio and prompt; log its rhythm F1."""
        steps = self.trainer.datamodule.cfg.lightning.generate_steps
        z = self.sample_latents(batch["mel"][:1], batch["tokens"][:1], steps=steps, cfg_scale=1.0, seed=0)
        keys = int(batch["keys"][0])
        logits = self.decode_latent(z, batch["keys"][:1])[0].float().cpu()
        pred = mania_tensor.decode(logits, keys=keys, from_logits=True)
        ref = mania_tensor.decode(batch["x"][0].float().cpu(), keys=keys)
        f1 = rhythm_f1(pred, ref, tol_ms=50.0)["f1"]
        self.log("val/rhythm_f1_50ms", float(f1), batch_size=1, sync_dist=False, rank_zero_only=True)

    def configure_optimizers(self):
        m = self.cfg.model
        opt = torch.optim.AdamW(self.denoiser.parameters(), lr=self.learning_rate, weight_decay=m.params.weight_decay)
        warm = max(int(m.params.warmup_steps), 0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @property
    def learning_rate(self) -> float:
        return float(self.hparams.get("meta", {}).get("learning_rate", self.cfg.model.base_learning_rate))


__all__ = ["LatentDiffusionSystem", "build_networks"]
