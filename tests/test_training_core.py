"""The building blocks both training loops share: parameter groups, optimizer, schedule, precision,
wrapping, the log line and RNG states."""

import random

import numpy as np
import pytest
import torch

from spaneval.distributed import DistInfo
from spaneval.training_core import (
    autocast_dtype,
    default_param_groups,
    linear_warmup_decay,
    log,
    make_optimizer,
    rng_states,
    set_rng_states,
    wrap_for_training,
)

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


class Block(torch.nn.Module):
    """Names as in transformers' BERT (`LayerNorm`) and in other encoders (`layer_norm`)."""

    def __init__(self):
        super().__init__()
        self.dense = torch.nn.Linear(4, 4)
        self.LayerNorm = torch.nn.LayerNorm(4)
        self.layer_norm = torch.nn.LayerNorm(4)
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_no_weight_decay_on_biases_and_layer_norms_and_frozen_weights_left_out():
    model = Block()
    decay, no_decay = default_param_groups(model, learning_rate=1e-4, weight_decay=0.1)
    assert [p is model.dense.weight for p in decay["params"]] == [True]
    norms = [model.dense.bias, *model.LayerNorm.parameters(), *model.layer_norm.parameters()]
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in norms}
    assert (decay["lr"], decay["weight_decay"]) == (1e-4, 0.1)
    assert (no_decay["lr"], no_decay["weight_decay"]) == (1e-4, 0.0)


def test_optimizer_is_fused_adamw_on_cpu_with_the_given_betas():
    model = Block()
    optimizer = make_optimizer(default_param_groups(model, 1e-3, 0.01), betas=(0.8, 0.95), eps=1e-6)
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.AdamW) and group["fused"] is True
    assert (group["betas"], group["eps"], group["weight_decay"]) == ((0.8, 0.95), 1e-6, 0.01)


def test_optimizer_is_not_fused_on_a_device_without_fused_kernels():
    param = torch.nn.Parameter(torch.zeros(3, device="meta"))
    optimizer = make_optimizer([{"params": [param], "lr": 1e-3}], betas=(0.9, 0.999), eps=1e-8)
    assert optimizer.param_groups[0]["fused"] is None


def test_schedule_warms_up_linearly_then_decays_to_zero_at_the_last_step():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=2.0)
    scheduler = linear_warmup_decay(optimizer, warmup_steps=2, total_steps=6)
    rates = []
    for _ in range(7):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1.0, 2.0, 2.0, 1.5, 1.0, 0.5, 0.0])
    # Checkpoints keep only numbers: the factor function is not stored.
    assert scheduler.state_dict()["lr_lambdas"] == [None]


def test_no_warmup_starts_at_the_peak_rate():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert linear_warmup_decay(optimizer, warmup_steps=0, total_steps=4).get_last_lr() == [1.0]


@pytest.mark.parametrize(
    ("precision", "device", "dtype"),
    [
        ("auto", "cpu", None),
        ("auto", "cuda", torch.bfloat16),
        ("bf16", "cpu", torch.bfloat16),
        ("fp32", "cuda", None),
    ],
)
def test_bf16_on_gpu_under_auto_or_when_asked(precision, device, dtype):
    assert autocast_dtype(precision, torch.device(device)) is dtype


def test_one_process_without_compile_trains_the_model_itself():
    model = Block()
    assert wrap_for_training(model, CPU) is model


def test_log_lines_go_to_stderr_from_the_main_process_only(capsys):
    log(CPU, "hello")
    log(DistInfo(rank=1, world_size=2, local_rank=1, device=torch.device("cpu")), "from rank 1")
    log(CPU, "tagged", tag="spaneval pretrain")
    out, err = capsys.readouterr()
    assert out == "" and err == "[spaneval] hello\n[spaneval pretrain] tagged\n"


def test_restored_rng_states_repeat_every_generator():
    saved = rng_states()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_states(saved)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
