"""Model tooling that is not inference: INT8 quantization of an exported model and its model-card section.

Kept apart from ``stdc_ros.runtime`` (which loads and runs models); needs the ``onnx`` package.
"""
