"""stdc_ros: an ament_python package that also installs with pip."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "stdc_ros"
HERE = Path(__file__).parent


def data_files() -> list[tuple[str, list[str]]]:
    files = [
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ]
    for folder in (
        "launch",
        "config",
        "config/labels",
        "config/dds",
        "models",
        "samples/camvid_demo",
        "samples/camvid_demo/images",
        "samples/camvid_demo/labels",
    ):
        found = sorted(str(p) for p in (HERE / folder).glob("*") if p.is_file())
        if found:
            files.append((f"share/{PACKAGE}/{folder}", [str(Path(f).relative_to(HERE)) for f in found]))
    return files


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=data_files(),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26",  # Ubuntu 24.04 (Jazzy) ships 1.26; `make test` runs the ROS tests with it
        "opencv-python-headless",
        "onnxruntime",
        "PyYAML",
        "rosbags",
        "tqdm",
        "matplotlib",
        "pillow",
        "psutil",
    ],
    extras_require={
        "torch": ["torch>=2.4", "torchvision", "onnx", "onnxscript"],
        # the tensorrt backend: TensorRT itself comes from JetPack (python3-libnvinfer) or NVIDIA's tensorrt-cu12/13
        "tensorrt": ["cuda-python", "onnx", "onnxconverter-common"],
        "train": ["torch>=2.4", "torchvision", "onnx", "onnxscript", "tensorboard"],
        "ros": [
            "ros-rclpy",
            "ros-rmw-fastrtps-cpp",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-nav-msgs",
            "ros-geometry-msgs",
            "ros-diagnostic-msgs",
            "ros-rcl-interfaces",
            "ros-lifecycle-msgs",
            "ros-rosgraph-msgs",
            "ros-ament-index-python",
        ],
        "openvino": ["openvino"],  # the peer runtime of `stdc-ros bench` (its rows are skipped without it)
        "bench": ["openvino", "threadpoolctl"],
        "dev": ["pytest", "pytest-timeout", "hypothesis", "ruff", "colcon-common-extensions"],
    },
    zip_safe=True,
    maintainer="stdc_ros maintainers",
    maintainer_email="maintainers@stdc-ros.dev",
    description="STDC semantic segmentation and drivable area for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "stdc-ros = stdc_ros.cli:main",
            "stdc_ros_node = stdc_ros.node.main:main",
        ],
    },
)
