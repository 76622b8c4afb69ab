"""Hand-derived NumPy modules: layers, losses, initialisation and the Sequential stack."""

from mlptrain.nn.activations import GELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from mlptrain.nn.batchnorm import BatchNorm1d
from mlptrain.nn.build import build_model
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.ensemble import EnsembleInput, EnsembleLinear, EnsembleMean
from mlptrain.nn.linear import Linear
from mlptrain.nn.losses import LOSSES, BCEWithLogits, Loss, MSELoss, SoftmaxCrossEntropy
from mlptrain.nn.module import Module
from mlptrain.nn.sequential import Sequential

__all__ = [
    "GELU",
    "LOSSES",
    "BCEWithLogits",
    "BatchNorm1d",
    "Dropout",
    "EnsembleInput",
    "EnsembleLinear",
    "EnsembleMean",
    "Identity",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "build_model",
]
