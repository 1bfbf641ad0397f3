"""StyleGAN2 networks: shapes, w_avg/truncation, noise modes, official key layout, resampling maths."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gan.errors import GanError
from gan.layers import conv_resample, downsample2x, make_fir_filter, modulated_conv, upsample2x
from gan.networks import Discriminator, Generator

SMALL = dict(z_dim=64, w_dim=64, mapping_layers=2, channel_base=1024, channel_max=64)


def small_g(res=32, **kw):
    torch.manual_seed(0)
    return Generator(img_resolution=res, **{**SMALL, **kw}).eval()


@pytest.mark.parametrize("res", [32, 64, 128, 256])
def test_generator_and_discriminator_shapes(res):
    G = small_g(res)
    assert G.num_ws == 2 * int(math.log2(res)) - 2
    z = torch.randn(2, 64)
    with torch.no_grad():
        ws = G.mapping(z)
        img = G.synthesis(ws, noise_mode="const")
    assert ws.shape == (2, G.num_ws, 64)
    assert img.shape == (2, 3, res, res) and torch.isfinite(img).all()
    D = Discriminator(img_resolution=res, channel_base=1024, channel_max=64)
    assert D(img).shape == (2, 1)


@pytest.mark.parametrize("res", [0, 2, 48, 100])
def test_networks_reject_resolutions_that_do_not_halve_to_4(res):
    with pytest.raises(GanError, match=f"img_resolution must be a power of two >= 4, got {res}"):
        Generator(img_resolution=res)
    with pytest.raises(GanError, match=f"img_resolution must be a power of two >= 8, got {res}"):
        Discriminator(img_resolution=res)
    with pytest.raises(GanError, match="power of two >= 8, got 4"):
        Discriminator(img_resolution=4)


def test_config_rebuilds_same_architecture():
    G = small_g(64, c_dim=3)
    G2 = Generator(**G.config)
    assert {k: v.shape for k, v in G.state_dict().items()} == {k: v.shape for k, v in G2.state_dict().items()}
    import json
    assert json.loads(json.dumps(G.config)) == G.config
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64, c_dim=3)
    assert Discriminator(**D.config).config == D.config


def test_class_conditional_networks():
    G = small_g(32, c_dim=5)
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64, c_dim=5)
    assert G.state_dict()["mapping.fc0.weight"].shape == (64, 128)  # z and embedded c side by side
    assert D.state_dict()["mapping.embed.weight"].shape == (64, 5) and D.b4.out.weight.shape == (64, 64)
    z, c = torch.randn(2, 64), torch.eye(5)[:2]
    with torch.no_grad():
        img_a, img_b = G(z, c, noise_mode="const"), G(z, c.flip(0), noise_mode="const")
        assert D(img_a, c).shape == (2, 1)
    assert not torch.allclose(img_a, img_b)


def test_update_emas_tracks_w_and_truncation_pulls_to_w_avg():
    G = small_g()
    z = torch.randn(8, 64)
    assert torch.all(G.mapping.w_avg == 0)
    with torch.no_grad():
        w = G.mapping(z, update_emas=True)[:, 0]
    assert torch.allclose(G.mapping.w_avg, w.mean(0) * (1 - 0.995), atol=1e-6)
    with torch.no_grad():
        ws0 = G.mapping(z, truncation_psi=0.0)
        ws1 = G.mapping(z)
        wsh = G.mapping(z, truncation_psi=0.5)
        wsc = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.allclose(ws0, G.mapping.w_avg.expand_as(ws0))
    assert torch.allclose(wsh, (ws1 + G.mapping.w_avg) / 2, atol=1e-6)
    assert torch.allclose(wsc[:, :3], ws0[:, :3]) and torch.equal(wsc[:, 3:], ws1[:, 3:])


def test_noise_modes():
    G = small_g()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.5)
    ws = G.mapping(torch.randn(2, 64)).detach()
    with torch.no_grad():
        a, b = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
        r1, r2 = G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random")
        n = G.synthesis(ws, noise_mode="none")
    assert torch.equal(a, b)
    assert not torch.allclose(r1, r2) and not torch.allclose(a, n)


def test_gradients_flow_through_g_and_d():
    G = small_g()
    D = Discriminator(img_resolution=32, channel_base=1024, channel_max=64)
    G.train()
    loss = F.softplus(-D(G(torch.randn(4, 64)))).mean()
    loss.backward()
    assert G.mapping.fc0.weight.grad.abs().sum() > 0
    assert G.synthesis.b4.const.grad.abs().sum() > 0
    assert D.b32.fromrgb.weight.grad.abs().sum() > 0


def official_keys(res, z_dim=512, w_dim=512, n_map=8, base=16384, cmax=512, img_ch=3):
    """The official StyleGAN2-ADA G_ema / D state_dict layout, written from its documentation."""
    ch = lambda r: min(base // r, cmax)  # noqa: E731
    g = {"mapping.w_avg": (w_dim,)}
    for i in range(n_map):
        g[f"mapping.fc{i}.weight"] = (w_dim, z_dim if i == 0 else w_dim)
        g[f"mapping.fc{i}.bias"] = (w_dim,)

    def layer(p, cin, cout, r, k=3):
        g.update({f"{p}.weight": (cout, cin, k, k), f"{p}.bias": (cout,), f"{p}.affine.weight": (cin, w_dim),
                  f"{p}.affine.bias": (cin,)})
        if k == 3:
            g.update({f"{p}.noise_const": (r, r), f"{p}.noise_strength": (), f"{p}.resample_filter": (4, 4)})

    r = 4
    while r <= res:
        b = f"synthesis.b{r}"
        g[f"{b}.resample_filter"] = (4, 4)
        if r == 4:
            g[f"{b}.const"] = (ch(4), 4, 4)
        else:
            layer(f"{b}.conv0", ch(r // 2), ch(r), r)
        layer(f"{b}.conv1", ch(r), ch(r), r)
        layer(f"{b}.torgb", ch(r), img_ch, r, k=1)
        r *= 2
    d = {}
    r = res
    while r >= 8:
        b = f"b{r}"
        if r == res:
            d.update({f"{b}.fromrgb.weight": (ch(r), img_ch, 1, 1), f"{b}.fromrgb.bias": (ch(r),),
                      f"{b}.fromrgb.resample_filter": (4, 4)})
        d.update({f"{b}.resample_filter": (4, 4),
                  f"{b}.conv0.weight": (ch(r), ch(r), 3, 3), f"{b}.conv0.bias": (ch(r),),
                  f"{b}.conv0.resample_filter": (4, 4),
                  f"{b}.conv1.weight": (ch(r // 2), ch(r), 3, 3), f"{b}.conv1.bias": (ch(r // 2),),
                  f"{b}.conv1.resample_filter": (4, 4),
                  f"{b}.skip.weight": (ch(r // 2), ch(r), 1, 1), f"{b}.skip.resample_filter": (4, 4)})
        r //= 2
    d.update({"b4.conv.weight": (ch(4), ch(4) + 1, 3, 3), "b4.conv.bias": (ch(4),), "b4.conv.resample_filter": (4, 4),
              "b4.fc.weight": (ch(4), ch(4) * 16), "b4.fc.bias": (ch(4),), "b4.out.weight": (1, ch(4)),
              "b4.out.bias": (1,)})
    return g, d


def test_state_dict_layout_matches_official_256():
    G = Generator(img_resolution=256)
    D = Discriminator(img_resolution=256)
    g, d = official_keys(256)
    assert {k: tuple(v.shape) for k, v in G.state_dict().items()} == g
    assert {k: tuple(v.shape) for k, v in D.state_dict().items()} == d
    assert G.num_ws == 14
    f = G.state_dict()["synthesis.b8.conv0.resample_filter"]
    assert torch.allclose(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)


def test_fir_resampling_keeps_constant_signals():
    f = make_fir_filter()
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2x(x, f), downsample2x(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1)) and torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1))


def _reference_modconv(x, weight, styles, demod, up, f):
    """Per-sample weight formulation (the paper's equations), with upsampling as zero insertion + blur."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        if demod:
            w = w / torch.sqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xi = x[i:i + 1]
        k = w.shape[-1]
        if up == 1:
            outs.append(F.conv2d(xi, w, padding=k // 2))
            continue
        h = xi.shape[-1]
        u = torch.zeros(1, xi.shape[1], 2 * h, 2 * h)
        u[..., ::2, ::2] = xi
        y = F.conv2d(F.pad(u, [k - 1] * 4), w.flip([2, 3]))[..., :2 * h + 1, :2 * h + 1]  # full convolution
        c = y.shape[1]
        blur = (4 * f).flip([0, 1])[None, None].expand(c, 1, 4, 4)
        outs.append(F.conv2d(F.pad(y, [1, 1, 1, 1]), blur, groups=c))
    return torch.cat(outs)


@pytest.mark.parametrize("up,demod", [(1, True), (2, True), (1, False)])
def test_modulated_conv_matches_per_sample_weights(up, demod):
    torch.manual_seed(1)
    f = make_fir_filter()
    k = 3 if demod else 1
    x, weight, styles = torch.randn(3, 5, 6, 6), torch.randn(7, 5, k, k), torch.randn(3, 5)
    ours = modulated_conv(x, weight, styles, demodulate=demod, up=up, f=f)
    ref = _reference_modconv(x, weight, styles, demod, up, f)
    assert ours.shape == ref.shape == (3, 7, 6 * up, 6 * up)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_strided_downsampling_conv_equals_blur_then_subsample():
    torch.manual_seed(2)
    f = make_fir_filter()
    x, w = torch.randn(2, 4, 8, 8), torch.randn(6, 4, 3, 3)
    blurred = F.conv2d(F.pad(x, [2, 2, 2, 2]), f[None, None].expand(4, 1, 4, 4), groups=4)
    ref = F.conv2d(blurred, w)[..., ::2, ::2]
    assert torch.allclose(conv_resample(x, w, f, down=2), ref, atol=1e-5)
