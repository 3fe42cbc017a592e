"""Model tooling that is not inference: ONNX export and its checks against torch, float16 conversion and Q/DQ
inspection, INT8 quantization and its model-card section, TensorRT engine building (and the ``export`` and
``build-engine`` commands).

Kept apart from ``stdc_ros.runtime`` (which loads and runs models): tooling imports the runtime, and the runtime
imports nothing from here except the TensorRT engine builder, lazily, when its TensorRT backend is given an ONNX
model (the builder finds the cached engine or builds one). Needs the ``onnx`` package (export also torch).
"""
