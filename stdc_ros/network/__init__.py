"""The STDC segmentation network in PyTorch, shared by training and inference."""

from .backbone import STDCBackbone, STDCModule
from .checkpoint import load_checkpoint_model, save_model_checkpoint
from .complexity import count_macs, count_parameters
from .layers import ConvBNReLU, ConvX
from .stdc_seg import STDCSeg, TrainOutputs, build_stdc

__all__ = [
    "ConvBNReLU",
    "ConvX",
    "STDCBackbone",
    "STDCModule",
    "STDCSeg",
    "TrainOutputs",
    "build_stdc",
    "count_macs",
    "count_parameters",
    "load_checkpoint_model",
    "save_model_checkpoint",
]
