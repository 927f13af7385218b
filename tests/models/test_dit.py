"""The osu!standard DiT and its training windows (groundwork for the remapper): shapes, banded attention, classifier
-free guidance at scale 1, windows over real maps, and a tiny model whose loss falls in a few CPU steps. (The remap's
spacing and slider rules are tested in tests/generation/rules/.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beatforge.charts.standard_sequence import KIND, TIME, X, Y
from beatforge.data.standard_dataset import StandardMap, StandardWindows, spacing
from beatforge.diffusion.sampling import classifier_free_guidance
from beatforge.generation.learned.dit_positions import dit_model_fn
from beatforge.models.dit import DiT, band_mask, dit_config
from tests.conftest import need_data


def _toy_map(n: int, label: int, rng: np.random.Generator) -> StandardMap:
    seq = np.zeros((n, 8))
    seq[:, TIME] = np.cumsum(rng.integers(100, 300, n))
    ang = np.arange(n) * 0.6
    seq[:, X] = 256 + 150 * np.cos(ang)
    seq[:, Y] = 192 + 120 * np.sin(ang)
    seq[:, KIND] = rng.integers(0, 2, n)
    return StandardMap(seq, label)


def test_band_mask_blocks_outside_the_window() -> None:
    m = band_mask(6, 2)
    assert not m[3, 1] and not m[3, 4] and m[3, 0] and m[3, 5]
    assert m.shape == (6, 6) and m.dtype == torch.bool


def test_dit_shapes_sizes_and_cfg_scale_one_is_the_conditional_model() -> None:
    torch.manual_seed(0)
    cfg = dit_config("DiT-T", num_classes=5)
    net = DiT(cfg).eval()
    for p in net.parameters():  # adaLN-Zero starts as identity / zero output: perturb to test the plumbing
        p.data += 0.05 * torch.randn_like(p)
    b, t = 3, 40
    args = (torch.rand(b, 2, t), torch.randint(0, 1000, (b,)), torch.rand(b, t) * 1e4, torch.rand(b, t) * 200,
            torch.randint(0, 16, (b, t)), torch.tensor([0, 3, 4]))
    cond, uncond = args[2:], (*args[2:5], torch.full((b,), net.null_label))
    with torch.no_grad():
        out = net(*args, window=8)
        one = classifier_free_guidance(dit_model_fn(net, 8), cond, uncond, 1.0)(*args[:2])
        two = classifier_free_guidance(dit_model_fn(net, 8), cond, uncond, 3.0)(*args[:2])
    assert out.shape == (b, 2, t)
    assert torch.equal(out, one) and not torch.allclose(out, two)
    assert dit_config("DiT-B", 10).hidden == 768 and dit_config("DiT-XL", 10).depth == 28
    with pytest.raises(ValueError, match="DiT-S"):
        dit_config("DiT-Q", 3)


def test_windows_pad_short_maps_flip_and_cover_the_tail() -> None:
    rng = np.random.default_rng(0)
    maps = [_toy_map(50, 0, rng), _toy_map(300, 1, rng)]
    ds = StandardWindows(maps, seq_len=128, stride=64)
    assert len(ds) == 1 + 4  # the short map padded once; starts 0, 64, 128 and the tail 172
    short = ds[0]
    assert short["valid"].sum() == 50 and short["x"].shape == (2, 128)
    assert int(ds.index[-1][1]) == 300 - 128
    item = ds[2]
    d = item["dist"][1:item["valid"].sum()]
    pos = (item["x"] + 1) * torch.tensor([[256.0], [192.0]])
    assert torch.allclose(d, torch.linalg.vector_norm(pos[:, 1:] - pos[:, :-1], dim=0)[: len(d)], atol=1e-2)
    assert float(item["times"][0]) >= 0 and torch.all(torch.diff(item["times"][:128]) >= 0)


def test_windows_on_real_maps() -> None:
    from beatforge.charts.standard_sequence import encode
    from beatforge.formats.osu import parse_osu

    path = need_data("standard", "kimi_no_bouken.osu")
    seq = encode(parse_osu(path))
    assert np.allclose(spacing(seq)[1:], np.hypot(*(seq[1:, [X, Y]] - seq[:-1, [X, Y]]).T))
    ds = StandardWindows([StandardMap(seq, 0)], seq_len=128, stride=16)
    assert len(ds) >= (len(seq) - 128) // 16
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    assert float(x.min()) >= -1.1 and float(x.max()) <= 1.1  # centred: [-1, 1] plus maps' few off-field objects


def test_a_tiny_dit_learns_toy_maps() -> None:
    from diffusers import DDPMScheduler

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ds = StandardWindows([_toy_map(200, i % 2, rng) for i in range(4)], seq_len=32, stride=8, seed=0)
    net = DiT(dit_config("DiT-T", num_classes=2))
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")  # osu-diffusion's
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(6):
        for batch in loader:
            t = torch.randint(0, 1000, (batch["x"].shape[0],))
            noise = torch.randn_like(batch["x"])
            pred = net(sched.add_noise(batch["x"], noise, t), t, batch["times"], batch["dist"], batch["kinds"],
                       net.drop_labels(batch["label"]), window=16)
            mask = batch["valid"][:, None, :].float()
            loss = ((pred - noise).abs() * mask).sum() / mask.sum() / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("t,window", [(300, 32), (129, 64), (1000, 128), (257, 128)])
def test_block_wise_banded_attention_equals_the_masked_full_one(t: int, window: int) -> None:
    from beatforge.models.dit import banded_attention

    torch.manual_seed(t)
    attn = DiT(dit_config("DiT-T", num_classes=1)).blocks[0].attn
    h = torch.randn(2, t, attn.embed_dim)
    full, _ = attn(h, h, h, attn_mask=band_mask(t, window), need_weights=False)
    assert torch.allclose(banded_attention(attn, h, window), full, atol=1e-5)
