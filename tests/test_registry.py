"""The component registries (sadp.registry): every registered name builds, an unknown name is one
line listing the registered ones, and a user's own entry works through TrainConfig and train()
without editing the library."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torch import Tensor, nn

from sadp.registry import ENCODERS, LOSSES, NEURONS, OPTIMIZERS, SURROGATES, Registry
from sadp.snn import LIF, SpikingNeuron, Surrogate, encode, get_surrogate, make_neuron
from sadp.train import TrainConfig, Trainer, train
from sadp.train.losses import per_example_loss
from sadp.train.optim import build_optimizer

# config field -> registry, for the five registries of components the trainer builds by name
COMPONENTS = {"optimizer": OPTIMIZERS, "loss": LOSSES, "neuron": NEURONS, "surrogate": SURROGATES, "encoder": ENCODERS}
FAST = dict(dataset="digits", model="mlp", method="full", epochs=1, subset=100, batch_size=50, progress=False)


def test_builtin_names() -> None:
    assert OPTIMIZERS.names() == ["adamw", "sgd"] and LOSSES.names() == ["ce", "tet"]
    assert NEURONS.names() == ["if", "lif", "plif"] and SURROGATES.names() == ["atan", "sigmoid", "triangle"]
    assert ENCODERS.names() == ["direct", "poisson"]
    assert all(reg.help(name) for reg in COMPONENTS.values() for name in reg)  # a line for the listings


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_builds_and_steps(name: str) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = build_optimizer(model, name, lr=0.1, weight_decay=0.01, momentum=0.9)
    assert isinstance(opt, torch.optim.Optimizer)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]  # none on biases and BN
    model(torch.randn(5, 3)).sum().backward()
    before = model[0].weight.detach().clone()
    opt.step()
    assert not torch.equal(before, model[0].weight)


def test_builtin_optimizers_keep_their_settings() -> None:
    p = [nn.Parameter(torch.zeros(2, 2))]
    sgd = build_optimizer(nn.ParameterList(p), "sgd", lr=0.1, weight_decay=0.0, momentum=0.8)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.8 and sgd.defaults["nesterov"]
    adamw = build_optimizer(nn.ParameterList(p), "adamw", lr=0.1, weight_decay=0.0, momentum=0.8)
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_gives_one_value_per_example(name: str) -> None:
    out, y = torch.randn(4, 6, 3, requires_grad=True), torch.randint(0, 3, (6,))
    loss = per_example_loss(out, y, name, label_smoothing=0.1, tet_lambda=0.05)
    assert loss.shape == (6,) and torch.isfinite(loss).all()
    loss.sum().backward()
    assert out.grad is not None


def test_builtin_losses_are_unchanged() -> None:
    out, y = torch.randn(4, 6, 3), torch.randint(0, 3, (6,))
    ce = torch.nn.functional.cross_entropy(out.mean(0), y, reduction="none", label_smoothing=0.1)
    assert torch.equal(per_example_loss(out, y, "ce", label_smoothing=0.1), ce)
    step_ce = torch.stack([torch.nn.functional.cross_entropy(o, y, reduction="none") for o in out]).mean(0)
    tet = 0.8 * step_ce + 0.2 * (out - 1).pow(2).mean(-1).mean(0)
    torch.testing.assert_close(per_example_loss(out, y, "tet", tet_lambda=0.2), tet)


@pytest.mark.parametrize("name", NEURONS.names())
def test_every_neuron_builds_from_the_model_options(name: str) -> None:
    neuron = make_neuron(name, tau=3.0, decay_input=False, surrogate="sigmoid")  # what every model passes
    assert isinstance(neuron, SpikingNeuron) and isinstance(neuron, NEURONS.get(name))
    s = neuron(torch.randn(4, 2, 5) * 3)
    assert s.shape == (4, 2, 5) and set(s.unique().tolist()) <= {0.0, 1.0}
    if neuron.has_time_constant:
        assert neuron.tau == pytest.approx(3.0) and neuron.decay_input is False


@pytest.mark.parametrize("name", SURROGATES.names())
def test_every_surrogate_builds_and_names_itself(name: str) -> None:
    sur = get_surrogate(name)
    assert isinstance(sur, SURROGATES.get(name)) and sur.name == name  # the kernels key on .name
    u = torch.linspace(-1, 1, 11, requires_grad=True)
    sur(u).sum().backward()
    torch.testing.assert_close(u.grad, sur.grad(u.detach()))


@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_encoder_gives_time_first_input(name: str) -> None:
    x = torch.rand(3, 1, 4, 4)
    assert encode(x, 5, name).shape == (5, 3, 1, 4, 4)


@pytest.mark.parametrize("field", sorted(COMPONENTS))
def test_unknown_name_is_one_line_listing_the_registered_ones(field: str) -> None:
    reg = COMPONENTS[field]
    expected = f"unknown {reg.kind} 'nope'; available: {', '.join(reg.names())}"
    with pytest.raises(KeyError) as e:
        reg.get("nope")
    assert e.value.args[0] == expected
    with pytest.raises(ValueError) as v:
        TrainConfig(**{field: "nope"}).validate()
    assert str(v.value) == f"invalid config: {expected}"


def test_unknown_names_in_the_builders() -> None:
    with pytest.raises(ValueError, match=r"^unknown optimizer 'adam'; available: adamw, sgd$"):
        build_optimizer(nn.Linear(2, 2), "adam", 0.1, 0.0, 0.9)
    with pytest.raises(ValueError, match=r"^unknown loss 'mse'; available: ce, tet$"):
        per_example_loss(torch.zeros(2, 3, 4), torch.zeros(3, dtype=torch.long), "mse")
    with pytest.raises(KeyError, match=r"unknown neuron 'lf'; available: if, lif, plif"):
        make_neuron("lf")
    with pytest.raises(KeyError, match=r"unknown encoder 'rate'; available: direct, poisson"):
        encode(torch.zeros(2, 3), 4, "rate")


def test_registry_mechanics() -> None:
    reg: Registry = Registry("widget")

    @reg.register("plain")
    def plain(x, scale=1.0):
        """scales x"""
        return x * scale

    @reg.register("open")
    def open_ended(x, **options):
        return sorted(options)

    assert list(reg) == ["open", "plain"] and "plain" in reg and reg.help("plain") == "scales x"
    assert reg.build_with("plain", 2.0, scale=3.0, unused=1) == 6.0  # options the entry does not name are left out
    assert reg.build_with("open", 0, a=1, b=2) == ["a", "b"]  # **options: all of them
    with pytest.raises(ValueError, match="widget 'plain' is registered twice"):
        reg.register("plain")(lambda x: x)
    reg.unregister("plain")
    assert reg.names() == ["open"]
    with pytest.raises(KeyError, match="unknown widget 'plain'; available: open"):
        reg.unregister("plain")


# -- a user's own components, registered outside the library ------------------------------------------------------

class UserSurrogate(Surrogate):
    """fast sigmoid: f'(u) = alpha / (2 (1 + alpha |u|)^2)"""

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__(alpha)

    def primitive(self, u: Tensor) -> Tensor:
        au = self.alpha * u
        return 0.5 * au / (1 + au.abs()) + 0.5

    def grad(self, u: Tensor) -> Tensor:
        return self.alpha / (2 * (1 + self.alpha * u.abs()) ** 2)


class UserNeuron(LIF):
    """LIF with a soft reset by default"""

    def __init__(self, reset: str = "soft", **kwargs) -> None:
        super().__init__(reset=reset, **kwargs)


def user_optimizer(param_groups: list, lr: float) -> torch.optim.Optimizer:
    """Adam (coupled weight decay)"""
    return torch.optim.Adam(param_groups, lr=lr)


def user_loss(out: Tensor, y: Tensor) -> Tensor:
    """cross-entropy of the last step's logits"""
    return torch.nn.functional.cross_entropy(out[-1], y, reduction="none")


def user_encoder(x: Tensor, T: int) -> Tensor:
    """the input at the first step, zeros after"""
    return torch.cat([x.unsqueeze(0), x.new_zeros(T - 1, *x.shape)])


USER = {"optimizer": user_optimizer, "loss": user_loss, "neuron": UserNeuron, "surrogate": UserSurrogate,
        "encoder": user_encoder}


@pytest.fixture
def user_components() -> Iterator[dict[str, str]]:
    """Registers one user entry per registry as ``user_<field>``; removed again afterwards."""
    names = {}
    for field, entry in USER.items():
        COMPONENTS[field].register(f"user_{field}")(entry)
        names[field] = f"user_{field}"
    yield names
    for field, name in names.items():
        COMPONENTS[field].unregister(name)


def test_user_components_train_through_the_config(user_components: dict[str, str], tmp_path: Path) -> None:
    cfg = TrainConfig(out=str(tmp_path), **FAST, **user_components).validate()
    trainer = Trainer(cfg)
    assert type(trainer.optimizer) is torch.optim.Adam
    neurons = [m for m in trainer.model.modules() if isinstance(m, SpikingNeuron)]
    assert neurons and all(type(n) is UserNeuron and n.reset == "soft" and isinstance(n.surrogate, UserSurrogate)
                           for n in neurons)
    x = next(iter(trainer.test_loader))[0]
    inp = trainer.inputs.encode(x)
    assert inp.shape[0] == cfg.T and inp[0].any() and not inp[1:].any()  # the user's encoder
    out, y = torch.randn(cfg.T, 5, 10), torch.arange(5)
    assert torch.equal(trainer._per_example_loss(out, y), user_loss(out, y))
    summary = trainer.fit()
    assert summary["epochs"] == 1 and 0.0 <= summary["test_acc"] <= 1.0
    assert json.loads((tmp_path / "config.json").read_text())["optimizer"] == "user_optimizer"


def test_a_user_optimizer_alone_through_train(tmp_path: Path) -> None:
    OPTIMIZERS.register("user_sgd_plain")(lambda param_groups, lr: torch.optim.SGD(param_groups, lr=lr))
    try:
        assert "user_sgd_plain" in OPTIMIZERS.unknown("x")  # listed among the registered names
        summary = train(TrainConfig(out=str(tmp_path), optimizer="user_sgd_plain", **FAST))
        assert summary["config"]["optimizer"] == "user_sgd_plain"
    finally:
        OPTIMIZERS.unregister("user_sgd_plain")
    with pytest.raises(ValueError, match="unknown optimizer 'user_sgd_plain'"):
        TrainConfig(optimizer="user_sgd_plain").validate()
