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

from beatforge.config import Config, from_dict, latent_stride
from beatforge.diffusion.schedule import NoiseSchedule
from beatforge.features import FeatureTable


def build_networks(cfg: Config, features: FeatureTable):
    """(vae, denoiser) for a config; used by training and by generation alike."""
    from beatforge.models.denoiser import ManiaDenoiser
    from beatforge.models.vae import ChartVAE

    p = cfg.model.params
    vae = ChartVAE(p.first_stage_config)
    denoiser = ManiaDenoiser(
        p.unet_config, p.wave_stage_config, p.cond_stage_config, features.vocab_size, len(features)
    )
    return vae, denoiser


class LatentDiffusionSystem(L.LightningModule):
    def __init__(self, config: dict, features: list[dict], meta: dict | None = None) -> None:
        """``config`` and ``features`` are plain data (beatforge.config.to_dict / FeatureTable.to_list), so a
        checkpoint's hyper-parameters never need unpickling."""
        super().__init__()
        self.save_hyperparameters({"config": config, "features": features, "meta": meta or {}})
        self.cfg: Config = from_dict(config)
        self.features = FeatureTable.from_list(features)
        self.first_stage, self.denoiser = build_networks(self.cfg, self.features)
        self.first_stage.requires_grad_(False)
        self.first_stage.eval()
        self.schedule = NoiseSchedule(self.cfg.model.params)
        scale = self.cfg.model.params.first_stage_config.scale_factor
        self.register_buffer("scale_factor", torch.tensor(float(scale)))
        self.register_buffer("null_tokens", torch.from_numpy(self.features.null()))
        keep = [f.dropout_p == 0 for f in self.features.features]
        self.register_buffer("keep_in_null", torch.tensor(keep, dtype=torch.bool))
        self.stride = latent_stride(self.cfg)
        self._val_runs = 0

    # ------------------------------------------------------------------------------------ helpers
    def train(self, mode: bool = True):
        super().train(mode)
        self.first_stage.eval()  # frozen: no dropout, ever
        return self

    @torch.no_grad()
    def encode_latent(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(B, 40, T) charts -> (B, z, T / stride) scaled latents (posterior mean)."""
        return self.first_stage.encode(x, keys).mode() * self.scale_factor

    @torch.no_grad()
    def decode_latent(self, z: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.first_stage.decode(z / self.scale_factor, keys)

    def null_prompt(self, tokens: torch.Tensor) -> torch.Tensor:
        """The CFG null prompt for these examples: everything unspecified but the never-dropped features."""
        return torch.where(self.keep_in_null, tokens, self.null_tokens.expand_as(tokens))

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
        from beatforge.charts.mania_tensor import decode
        from beatforge.evaluation.matching import rhythm_f1

        steps = self.trainer.datamodule.cfg.lightning.generate_steps
        z = self.sample_latents(batch["mel"][:1], batch["tokens"][:1], steps=steps, cfg_scale=1.0, seed=0)
        keys = int(batch["keys"][0])
        pred = decode(self.decode_latent(z, batch["keys"][:1])[0].float().cpu(), keys=keys, from_logits=True)
        ref = decode(batch["x"][0].float().cpu(), keys=keys)
        f1 = rhythm_f1(pred, ref, tol_ms=50.0)["f1"]
        self.log("val/rhythm_f1_50ms", float(f1), batch_size=1, sync_dist=False, rank_zero_only=True)

    @torch.no_grad()
    def sample_latents(
        self,
        mel: torch.Tensor,
        tokens: torch.Tensor,
        *,
        steps: int,
        cfg_scale: float,
        seed: int | None = None,
        sampler: str = "dpm++",
        progress=None,
    ) -> torch.Tensor:
        """Latents for B examples of audio ``mel`` (B, 128, 64 L) and prompts ``tokens`` (B, F)."""
        from beatforge.diffusion.sampling import sample

        b, length = mel.shape[0], mel.shape[-1] // (8 * self.stride)
        audio = self.denoiser.encode_audio(mel)
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        shape = (b, self.cfg.model.params.unet_config.in_channels, length)
        return sample(
            self.denoiser,
            shape,
            tokens,
            self.null_prompt(tokens),
            audio,
            self.cfg.model.params,
            steps=steps,
            cfg_scale=cfg_scale,
            sampler=sampler,
            generator=gen,
            progress=progress,
        )

    def configure_optimizers(self):
        m = self.cfg.model
        opt = torch.optim.AdamW(self.denoiser.parameters(), lr=self.learning_rate, weight_decay=m.params.weight_decay)
        warm = max(int(m.params.warmup_steps), 0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @property
    def learning_rate(self) -> float:
        return float(self.hparams.get("meta", {}).get("learning_rate", self.cfg.model.base_learning_rate))

    # ------------------------------------------------------------------------------------ export
    def model_state(self) -> dict[str, torch.Tensor]:
        state = {f"first_stage.{k}": v for k, v in self.first_stage.state_dict().items()}
        state.update({f"denoiser.{k}": v for k, v in self.denoiser.state_dict().items()})
        state["scale_factor"] = self.scale_factor.detach().clone()
        return state
