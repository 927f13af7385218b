"""The chart VAE, its loss and its Lightning system: shapes, output ranges, masking, and a small overfit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from beatforge.charts import mania_tensor
from beatforge.charts.chart import ManiaChart
from beatforge.config import Config, DDConfig, FirstStageConfig, load_config
from beatforge.constants import FRAME_MS, MAX_KEYS
from beatforge.models.vae import PAD_LOGIT, ChartVAE, DiagonalGaussian
from beatforge.models.vae_loss import vae_loss
from beatforge.systems.autoencoder import AutoencoderSystem, batch_note_f1

W = MAX_KEYS


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny convolutions: one thread is faster than two, and steadier on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(**kw: float) -> FirstStageConfig:
    return FirstStageConfig(ddconfig=DDConfig(middle_channels=16, channel_mult=[1, 2, 2, 2], key_embed_dim=8), **kw)


def synth_chart(keys: int, t_len: int, rng: np.random.Generator) -> ManiaChart:
    """Taps and long notes in every column, gaps of 2-4 frames, starts and ends anywhere inside a frame."""
    starts, ends, cols = [], [], []
    for col in range(keys):
        f = int(rng.integers(0, 4))
        while f < t_len - 2:
            start = (f + rng.uniform(0.05, 0.95)) * FRAME_MS
            if rng.random() < 0.3:
                hold = int(rng.integers(1, 4))
                end = (f + hold + rng.uniform(0.05, 0.95)) * FRAME_MS
                if end >= t_len * FRAME_MS:
                    break
                f += hold + 2
            else:
                end = np.nan
                f += int(rng.integers(2, 5))
            starts.append(start)
            ends.append(end)
            cols.append(col)
    return ManiaChart(keys=keys, starts=np.array(starts), ends=np.array(ends), columns=np.array(cols))


def batch_of(charts: list[ManiaChart], t_len: int) -> dict[str, torch.Tensor]:
    x = [mania_tensor.pad_keys(mania_tensor.encode(c, n_frames=t_len), c.keys) for c in charts]
    valid = [mania_tensor.valid_mask(c, n_frames=t_len) for c in charts]
    return {
        "x": torch.from_numpy(np.stack(x)),  # (B, 40, T)
        "keys": torch.tensor([c.keys for c in charts], dtype=torch.int64),
        "valid": torch.from_numpy(np.stack(valid)),  # (B, T)
    }


def random_x(b: int, t_len: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 4, W, t_len, generator=g)  # (B, 4, W, T)
    x[:, 0::2] = (x[:, 0::2] > 0.9).float()  # is_start, is_holding binary
    return x.reshape(b, 4 * W, t_len)


# ==================================================================================== shapes and ranges
def test_preset_parameter_count() -> None:
    cfg = load_config(["configs/mug/autoencoder.yaml"])
    vae = ChartVAE(cfg.model.params.first_stage_config)
    n = sum(p.numel() for p in vae.parameters())
    # Mug's 4K AutoencoderKL (64 channels, 8x) is 5.09 M; beatforge's (32 channels, 4x, 40-channel ends, key
    # FiLM) is under a million.
    assert n == 975_400
    assert vae.stride == 4


@pytest.mark.parametrize("t_len", [64, 128])
def test_shapes_for_every_key_count(t_len: int) -> None:
    torch.manual_seed(0)
    vae = ChartVAE(FirstStageConfig()).eval()
    keys = torch.tensor([1, 4, 7, 10])
    x = random_x(4, t_len)
    with torch.no_grad():
        post = vae.encode(x, keys)
        assert post.mean.shape == post.logvar.shape == (4, 16, t_len // vae.stride)
        assert post.kl().shape == (4,)
        out = vae.decode(post.sample(), keys)
        assert out.shape == (4, 4 * W, t_len)
        out2, post2 = vae(x, keys, sample_posterior=False)
    assert torch.equal(out2, vae.decode(post2.mode(), keys))
    o = out.view(4, 4, W, t_len)  # (B, block, column, T)
    offsets = o[:, 1::2]
    assert offsets.min() >= 0.0 and offsets.max() <= 1.0
    for i, k in enumerate(keys.tolist()):  # padded columns are "off"
        assert torch.all(o[i, 0::2, k:] == PAD_LOGIT) and torch.all(o[i, 1::2, k:] == 0)
        chart = mania_tensor.decode(mania_tensor.unpad_keys(out[i], k), from_logits=True)
        assert chart.keys == k


def test_bad_input_is_refused() -> None:
    vae = ChartVAE(tiny_cfg())
    with pytest.raises(ValueError, match="multiple of the VAE's time stride 8"):
        vae.encode(torch.zeros(1, 4 * W, 60), torch.tensor([4]))
    with pytest.raises(ValueError, match="key counts must be 1-10"):
        vae.encode(torch.zeros(1, 4 * W, 64), torch.tensor([11]))
    with pytest.raises(ValueError, match="padded chart tensor"):
        vae.encode(torch.zeros(1, 16, 64), torch.tensor([4]))


def test_posterior() -> None:
    moments = torch.zeros(2, 2 * 3, 5)
    moments[:, 3:] = 100.0  # logvar far above the clamp
    post = DiagonalGaussian(moments)
    assert post.logvar.max() == 20.0
    assert torch.allclose(DiagonalGaussian(torch.zeros(2, 6, 5)).kl(), torch.zeros(2))
    a = post.sample(generator=torch.Generator().manual_seed(1))
    b = post.sample(generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


# ==================================================================================== loss masking
def test_padded_columns_change_nothing() -> None:
    torch.manual_seed(0)
    cfg = tiny_cfg()
    vae = ChartVAE(cfg).eval()
    keys = torch.tensor([1, 4, 7])
    x = random_x(3, 64, seed=1)
    x4 = x.view(3, 4, W, 64)
    for i, k in enumerate(keys.tolist()):
        x4[i, :, k:] = 0.0  # a clean padded tensor
    dirty = x.clone().view(3, 4, W, 64)
    for i, k in enumerate(keys.tolist()):
        dirty[i, :, k:] = torch.rand(4, W - k, 64)
    dirty = dirty.view(3, 4 * W, 64)
    valid = torch.ones(3, 64)
    with torch.no_grad():
        out, post = vae(x, keys, sample_posterior=False)
        out_d, post_d = vae(dirty, keys, sample_posterior=False)
        assert torch.equal(out, out_d)  # the encoder never reads padded columns
        loss, _ = vae_loss(out, x, keys, valid, post, cfg)
        loss_d, _ = vae_loss(out, dirty, keys, valid, post, cfg)  # nor does the loss
    assert loss == loss_d


def test_invalid_frames_change_nothing() -> None:
    cfg = tiny_cfg()
    x = random_x(2, 64, seed=2)
    out = torch.randn(2, 4 * W, 64)
    keys = torch.tensor([4, 10])
    valid = torch.zeros(2, 64)
    valid[:, :40] = 1.0
    post = DiagonalGaussian(torch.zeros(2, 32, 8))
    base, _ = vae_loss(out, x, keys, valid, post, cfg)
    x2, out2 = x.clone(), out.clone()
    x2[:, :, 40:] = 1.0
    out2[:, :, 40:] = 5.0
    assert vae_loss(out2, x2, keys, valid, post, cfg)[0] == base


def test_loss_terms() -> None:
    cfg = tiny_cfg(kl_weight=0.0)
    t_len = 8
    # One 4K sub-frame long note in column 2: its end offset sits in its start frame.
    ref = ManiaChart(keys=4, starts=np.array([3.2 * FRAME_MS]), ends=np.array([3.7 * FRAME_MS]), columns=np.array([2]))
    x = torch.from_numpy(mania_tensor.pad_keys(mania_tensor.encode(ref, n_frames=t_len), 4))[None]  # (1, 40, 8)
    keys, valid = torch.tensor([4]), torch.ones(1, t_len)
    post = DiagonalGaussian(torch.zeros(1, 32, 1))
    perfect = x.clone().view(1, 4, W, t_len)
    logit = float(np.log((1 - 0.0005) / 0.0005))  # the optimum under label smoothing 0.001
    perfect[:, 0::2] = torch.where(perfect[:, 0::2] > 0.5, logit, -logit)
    perfect = perfect.view(1, 4 * W, t_len)
    loss, parts = vae_loss(perfect, x, keys, valid, post, cfg)
    assert set(parts) == {"rec/bce_start", "rec/bce_hold", "rec/mse_start", "rec/mse_end", "kl", "loss"}
    assert parts["rec/mse_start"] == 0 and parts["rec/mse_end"] == 0
    # Label smoothing: even the best output pays a little BCE (the smoothed labels' entropy).
    assert 0 < float(parts["rec/bce_start"]) < 0.01
    wrong_end = perfect.clone().view(1, 4, W, t_len)
    wrong_end[0, 3, 2, 3] = 0.2  # the end offset in the start frame
    _, parts2 = vae_loss(wrong_end.view(1, 4 * W, t_len), x, keys, valid, post, cfg)
    assert float(parts2["rec/mse_end"]) == pytest.approx((0.7 - 0.2) ** 2, rel=1e-4)


# ==================================================================================== learning
def test_tiny_vae_overfits_synthetic_charts() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t_len = 64
    batch = batch_of([synth_chart(k, t_len, rng) for k in (4, 7, 10)], t_len)
    x, keys = batch["x"], batch["keys"]
    valid = torch.ones_like(batch["valid"])
    cfg = tiny_cfg(kl_weight=1e-6)
    vae = ChartVAE(cfg)
    opt = torch.optim.Adam(vae.parameters(), lr=6e-3)
    for _ in range(150):
        out, post = vae(x, keys)
        loss, _ = vae_loss(out, x, keys, valid, post, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out, _ = vae(x, keys, sample_posterior=False)
    assert batch_note_f1(out, x, keys, valid, tol_ms=5.0) > 0.95


# ==================================================================================== the system
def tiny_config() -> Config:
    cfg = Config()
    cfg.model.kind = "autoencoder"
    cfg.model.base_learning_rate = 1e-3
    cfg.model.params.warmup_steps = 4
    cfg.model.params.first_stage_config = tiny_cfg()
    return cfg


def test_system_fit_and_checkpoint(tmp_path) -> None:
    import lightning as L

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    batch = batch_of([synth_chart(k, 64, rng) for k in (1, 4, 7, 10)], 64)
    batch["extra"] = torch.zeros(4)  # ignored
    loader = torch.utils.data.DataLoader([batch], batch_size=None)  # one ready-made batch
    system = AutoencoderSystem(tiny_config())
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
        limit_val_batches=1,
    )
    trainer.fit(system, train_dataloaders=loader, val_dataloaders=loader)
    logged = trainer.callback_metrics
    for name in ("train/loss", "train/rec/bce_start", "train/kl", "val/loss", "val/rec/mse_end", "val/note_f1"):
        assert name in logged, name
    assert 0.0 <= float(logged["val/note_f1"]) <= 1.0
    # Warmup: the LR ramps over warmup_steps (2 of 4 steps taken).
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 3 / 4)

    path = tmp_path / "vae.ckpt"
    trainer.save_checkpoint(path)
    back = AutoencoderSystem.load_from_checkpoint(path, weights_only=True)
    assert back.cfg == system.cfg
    for (k, a), (_, b) in zip(system.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
