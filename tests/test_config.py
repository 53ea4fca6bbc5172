from dataclasses import dataclass
from typing import Literal

import pytest

from spaneval.config import apply_overrides, field_docs, option, parse_overrides
from spaneval.errors import ConfigError
from spaneval.finetune import TrainConfig
from spaneval.registry import UnknownNameError, lookup


@dataclass(frozen=True)
class Toy:
    max_seq_len: int = option(384, "tokens per window")
    passage_first: bool = option(False, "passage segment first")
    mode: Literal["a", "b"] = option("a", "a mode")
    threshold: float | None = option(None, "no-answer threshold")
    sizes: tuple[int, ...] = option((1, 2), "sizes")


def test_overrides_are_typed_and_routed_to_their_config():
    cfgs = apply_overrides(
        {"task": Toy(), "train": TrainConfig()},
        parse_overrides(
            ["max_seq_len=512", "passage_first=true", "learning_rate=2e-5", "mode=b", "sizes=3,4"]
        ),
    )
    assert cfgs["task"].max_seq_len == 512 and cfgs["task"].passage_first is True
    assert cfgs["task"].mode == "b" and cfgs["task"].sizes == (3, 4)
    assert cfgs["train"].learning_rate == pytest.approx(2e-5)
    assert apply_overrides({"t": Toy()}, {"threshold": "none"})["t"].threshold is None
    assert apply_overrides({"t": Toy()}, {"threshold": "-1.5"})["t"].threshold == -1.5


@pytest.mark.parametrize(
    "item, message",
    [
        ("max_seq_lne=512", "Did you mean 'max_seq_len'"),
        ("max_seq_len=big", "expected int"),
        ("passage_first=maybe", "expected a boolean"),
        ("mode=c", "expected one of a, b"),
    ],
)
def test_bad_overrides_say_what_is_wrong(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"task": Toy(), "train": TrainConfig()}, parse_overrides([item]))


def test_malformed_override_item():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["max_seq_len"])


def test_field_docs_cover_every_field():
    docs = field_docs(TrainConfig)
    assert all(doc for _, _, doc in docs.values())
    assert docs["learning_rate"][0] == "float"


def test_lookup_did_you_mean_and_known_names():
    with pytest.raises(
        UnknownNameError, match=r"unknown task 'sqaud'\. Did you mean 'squad'\?.*Known tasks: coref, squad"
    ):
        lookup({"squad": 1, "coref": 2}, "sqaud", "task")
    assert lookup({"squad": 1}, "squad", "task") == 1
