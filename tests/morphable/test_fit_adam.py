"""morphable.fit.adam.Adam gives the same numbers as torch.optim.Adam (the photometric fit's results stay identical)."""
import torch

from morphable.fit.adam import Adam


def _run(make_opt, steps: int = 25) -> list[torch.Tensor]:
    torch.manual_seed(0)
    a, b, c = (torch.randn(n, dtype=torch.float32, requires_grad=True) for n in (6, 40, 27))
    unused = torch.randn(3, requires_grad=True)   # never gets a gradient: left alone
    target = torch.randn(40)
    opt = make_opt([a, unused], [b], [c])
    for i in range(steps):
        opt.zero_grad()
        loss = (a.sin() * 3).pow(2).sum() + ((b - target) ** 2).mean() * (i + 1) + c.abs().sum() * 1e-3
        loss.backward()
        opt.step()
        with torch.no_grad():
            b.clamp_(-1.0, 1.0)
    return [t.detach().clone() for t in (a, b, c, unused)]


def test_adam_matches_torch_bit_for_bit():
    ours = _run(lambda g1, g2, g3: Adam([(g1, 0.03), (g2, 0.06), (g3, 0.015)]))
    ref = _run(lambda g1, g2, g3: torch.optim.Adam([{"params": g1, "lr": 0.03}, {"params": g2, "lr": 0.06},
                                                    {"params": g3, "lr": 0.015}]))
    for x, y in zip(ours, ref):
        assert torch.equal(x, y)
