"""The optimizer and learning-rate schedule sections of ``train:`` (config/schema.py holds
the rest of the config)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from mlptrain.config.problems import problem as _problem
from mlptrain.config.strict import Strict as _Strict
from mlptrain.config.vocabulary import MonitorName


class SGD(_Strict):
    type: Literal["sgd"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and self.momentum == 0:
            raise _problem(
                ("nesterov",),
                "true is not allowed while momentum is 0; Nesterov momentum needs "
                "0 < momentum < 1 (set momentum, e.g. 0.9, or nesterov: false)",
            )
        return self


_BETAS = "a list [beta1, beta2] of two numbers, each in [0, 1)"
_Beta = Annotated[float, Field(ge=0, lt=1)]


class Adam(_Strict):
    type: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0)
    betas: list[_Beta] = Field([0.9, 0.999], min_length=2, max_length=2, description=_BETAS)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)


class AdamW(_Strict):
    type: Literal["adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    betas: list[_Beta] = Field([0.9, 0.999], min_length=2, max_length=2, description=_BETAS)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.01, ge=0)


Optimizer = Annotated[Union[SGD, Adam, AdamW], Field(discriminator="type")]  # noqa: UP007


class ConstantSchedule(_Strict):
    type: Literal["constant"] = "constant"


class StepSchedule(_Strict):
    type: Literal["step"] = "step"
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0, le=1)


class CosineSchedule(_Strict):
    type: Literal["cosine"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    min_lr: float = Field(0.0, ge=0)


class PlateauSchedule(_Strict):
    type: Literal["plateau"] = "plateau"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(5, ge=0)
    min_lr: float = Field(0.0, ge=0)
    monitor: MonitorName = "val_loss"


Schedule = Annotated[
    Union[ConstantSchedule, StepSchedule, CosineSchedule, PlateauSchedule],  # noqa: UP007
    Field(discriminator="type"),
]
