"""Shapes, zero-init, gradient flow, checkpointing and preset sizes of the mania denoiser."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from beatforge.config import CondStageConfig, WaveStageConfig
from beatforge.models.audio_encoder import AudioEncoder
from beatforge.models.denoiser import PRESETS, ManiaDenoiser, build_preset
from beatforge.models.feature_embedder import FeatureEmbedder
from beatforge.models.layers import group_norm

VOCAB, N_FEAT = 352, 21


def _inputs(model: ManiaDenoiser, B: int, L: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, 16, L, generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    tokens = torch.randint(0, VOCAB, (B, N_FEAT), generator=g)
    mel = torch.randn(B, model.audio_encoder.conv_in.in_channels, L * model.mel_hops_per_step, generator=g)
    return z, t, tokens, mel


def _randomise_zero_params(model: torch.nn.Module) -> None:
    """Zero-initialised output layers block every gradient at init; give them small values for flow tests."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.fixture(scope="module")
def tiny() -> ManiaDenoiser:
    torch.manual_seed(0)
    return build_preset("tiny", VOCAB, N_FEAT)


@pytest.mark.parametrize("L", [16, 32])
def test_shapes(tiny: ManiaDenoiser, L: int) -> None:
    z, t, tokens, mel = _inputs(tiny, 2, L)
    maps = tiny.encode_audio(mel)
    unet_cfg = PRESETS["tiny"]()[0]
    assert [tuple(m.shape) for m in maps] == [(2, a, L >> i) for i, a in enumerate(unet_cfg.audio_channels)]
    out = tiny(z, t, tokens, maps)
    assert out.shape == z.shape


def test_audio_batch_of_one_serves_a_cfg_batch() -> None:
    model = build_preset("tiny", VOCAB, N_FEAT)
    _randomise_zero_params(model)
    z, t, tokens, mel = _inputs(model, 2, 16)
    one = model.encode_audio(mel[:1])  # (1, A, L): encoded once, shared by the cond and uncond halves
    both = model.encode_audio(torch.cat([mel[:1], mel[:1]]))
    torch.testing.assert_close(model(z, t, tokens, one), model(z, t, tokens, both))


def test_audio_encoder_map_lengths() -> None:
    wave = WaveStageConfig(middle_channels=8, channel_mult=[1] * 10, num_res_blocks=1, num_groups=4, num_heads=2,
                           attention_levels=[9])
    enc = AudioEncoder(wave, [4, 8, 8, 16], mel_hops_per_step=64)  # Mug's 8x VAE: 64 mel hops per step
    maps = enc(torch.randn(1, 128, 32 * 64))
    assert [tuple(m.shape) for m in maps] == [(1, 4, 32), (1, 8, 16), (1, 8, 8), (1, 16, 4)]
    # Two UNet levels need 6 + 1 downsamples: 8 levels.
    maps = AudioEncoder(dataclasses.replace(wave, channel_mult=[1] * 8, attention_levels=[7]), [4, 6],
                        mel_hops_per_step=64)(
        torch.randn(1, 128, 8 * 64))
    assert [tuple(m.shape) for m in maps] == [(1, 4, 8), (1, 6, 4)]


@pytest.mark.parametrize("levels", [9, 11])
def test_bad_level_count_raises(levels: int) -> None:
    wave = WaveStageConfig(middle_channels=8, channel_mult=[1] * levels, num_res_blocks=1, num_groups=4,
                           attention_levels=[])
    with pytest.raises(ValueError, match="needs 9 downsamples"):
        AudioEncoder(wave, [8, 8, 8, 8], mel_hops_per_step=64)


def test_bad_shapes_raise(tiny: ManiaDenoiser) -> None:
    z, t, tokens, mel = _inputs(tiny, 1, 16)
    maps = tiny.encode_audio(mel)
    with pytest.raises(ValueError, match="multiple of 8"):
        tiny(z[..., :12], t, tokens, [m[..., : 12 >> i] for i, m in enumerate(maps)])
    with pytest.raises(ValueError, match="audio map 0"):
        tiny(z, t, tokens, [maps[0][..., :8]] + maps[1:])
    with pytest.raises(ValueError, match=f"\\(batch, {N_FEAT}\\)"):
        tiny(z, t, tokens[:, :5], maps)
    unet, wave, _ = PRESETS["tiny"]()
    with pytest.raises(ValueError, match="context_dim"):
        ManiaDenoiser(unet, wave, CondStageConfig(embed_dim=unet.context_dim + 1), VOCAB, N_FEAT)


def test_fresh_unet_outputs_zero(tiny: ManiaDenoiser) -> None:
    z, t, tokens, mel = _inputs(tiny, 2, 16)
    out = tiny(z, t, tokens, tiny.encode_audio(mel))
    assert out.abs().max().item() == 0.0


def test_gradients_reach_every_part() -> None:
    torch.manual_seed(0)
    model = build_preset("tiny", VOCAB, N_FEAT)
    _randomise_zero_params(model)
    z, t, tokens, mel = _inputs(model, 2, 16)
    model(z, t, tokens, model.encode_audio(mel)).square().mean().backward()
    for part in (model.embedder, model.audio_encoder, model.unet):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads), type(part).__name__
        assert sum(g.abs().sum().item() for g in grads) > 0, type(part).__name__
    assert model.embedder.positions.grad.abs().sum() > 0
    assert model.audio_encoder.conv_in.weight.grad.abs().sum() > 0


def test_checkpointing_gives_the_same_output_and_grads() -> None:
    unet, wave, cond = PRESETS["tiny"]()
    torch.manual_seed(0)
    plain = ManiaDenoiser(unet, wave, cond, VOCAB, N_FEAT)
    _randomise_zero_params(plain)
    ckpt = ManiaDenoiser(dataclasses.replace(unet, use_checkpoint=True), dataclasses.replace(wave, use_checkpoint=True),
                         cond, VOCAB, N_FEAT)
    ckpt.load_state_dict(plain.state_dict())
    z, t, tokens, mel = _inputs(plain, 2, 16)
    outs = []
    for model in (plain, ckpt):
        out = model(z, t, tokens, model.encode_audio(mel))
        out.square().mean().backward()
        outs.append(out.detach())
    torch.testing.assert_close(outs[0], outs[1])
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


@pytest.mark.parametrize(("name", "low", "high"), [("mug", 130e6, 180e6), ("small", 1.5e6, 4e6), ("tiny", 5e4, 2e5)])
def test_preset_sizes(name: str, low: float, high: float) -> None:
    with torch.device("meta"):  # no memory, no init cost: the 140 M model builds in well under a second
        model = build_preset(name, VOCAB, N_FEAT)
    total = model.param_counts()["total"]
    assert low <= total <= high, f"{name}: {total / 1e6:.2f} M parameters"


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="mug, small, tiny"):
        build_preset("huge", VOCAB, N_FEAT)


def test_feature_embedder_adds_a_per_feature_position() -> None:
    emb = FeatureEmbedder(10, 4, 3)
    ids = torch.tensor([[1, 1, 1]])
    out = emb(ids)
    assert out.shape == (1, 3, 4)
    torch.testing.assert_close(out[0] - emb.positions, emb.tokens.weight[1].expand(3, 4))


@pytest.mark.parametrize(("channels", "max_groups", "groups"), [(128, 32, 32), (384, 32, 32), (48, 32, 12),
                                                                 (12, 32, 3), (2, 32, 1), (32, 8, 8)])
def test_group_norm_picks_a_divisor(channels: int, max_groups: int, groups: int) -> None:
    assert group_norm(channels, max_groups).num_groups == groups
