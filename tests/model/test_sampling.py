import torch

from janus_eval.model import sampling


def test_uniforms_depend_only_on_seed_step_index():
    a = sampling.uniform(torch.tensor([5, 9]), 3, 1000)
    b = sampling.uniform(torch.tensor([9]), 3, 1000)
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])
    assert not torch.equal(a[0], sampling.uniform(torch.tensor([5]), 4, 1000)[0])
    assert 0 < a.min() and a.max() < 1


def test_uniforms_are_uniform():
    u = sampling.uniform(torch.arange(64), 0, 16384).flatten()
    assert abs(u.mean().item() - 0.5) < 0.005 and abs(u.var().item() - 1 / 12) < 0.002


def test_gumbel_max_samples_the_softmax():
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).repeat(20000, 1)
    seeds = torch.arange(20000)
    counts = torch.bincount(sampling.sample(logits, seeds, 0), minlength=3).double() / 20000
    assert torch.allclose(counts, torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64), atol=0.015)


def test_temperature_zero_is_greedy():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    assert sampling.sample(logits, torch.tensor([1]), 0, temperature=0).item() == 1


def test_cfg_formula():
    assert torch.equal(sampling.cfg_logits(torch.tensor([2.0]), torch.tensor([1.0]), 5.0), torch.tensor([6.0]))
