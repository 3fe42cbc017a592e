"""Errors the package raises for bad input; each message says which file or value and why."""


class StdcRosError(Exception):
    """Base class of the package's own errors."""


class ModelFileError(StdcRosError, RuntimeError):
    """A model, checkpoint or engine file is missing, corrupt or does not match what was asked for."""


class InferenceError(StdcRosError, RuntimeError):
    """A backend failed while running a frame."""


class ImageFormatError(StdcRosError, ValueError):
    """An image message cannot be decoded (encoding, size, step or data do not agree)."""


class BagError(StdcRosError, RuntimeError):
    """A rosbag is missing, corrupt, empty or holds no usable topic."""
