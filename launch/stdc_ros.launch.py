"""Launch one stdc_ros segmentation node for one camera.

    ros2 launch stdc_ros stdc_ros.launch.py camera:=front image:=image_raw backend:=tensorrt

The node runs in the camera's namespace (``/<camera>/stdc_ros``), reads ``params_file`` (default: the packaged
config/stdc_ros.yaml) and subscribes to ``<image>`` / ``<camera_info>`` resolved in that namespace. Launch
arguments left empty keep the params file's value. For several cameras include this file once per camera with
a different ``camera`` (see docs/node.md).

Large frames: the node gets the packaged Fast DDS profile config/dds/fastdds_hd.xml (``dds_profile``) unless
Fast DDS is configured in the environment already; the camera driver needs the same profile (docs/node.md,
"HD cameras and DDS").
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription

PACKAGE = "stdc_ros"
EXECUTABLE = "stdc_ros_node"
PARAMS_FILE = ("config", "stdc_ros.yaml")

# (name, default, description); "" for a node parameter means "keep the params file's value".
ARGUMENTS = (
    ("camera", "camera", "camera name: the node's namespace, /<camera>/<node_name>"),
    ("node_name", "stdc_ros", "node name"),
    ("params_file", "", "parameter YAML; empty = the packaged config/stdc_ros.yaml"),
    ("image", "image_raw", "input image topic (relative names resolve in the camera namespace)"),
    ("camera_info", "camera_info", "input camera_info topic"),
    ("backend", "", "inference backend: onnxruntime | tensorrt | torch; empty = params file"),
    ("model_path", "", "model file; empty = params file"),
    ("device", "", "cpu | cuda | cuda:N; empty = params file"),
    ("image_transport", "", "raw | compressed; empty = params file"),
    ("autostart", "true", "configure and activate at start (false: wait for a lifecycle manager)"),
    ("use_sim_time", "false", "use /clock (bag replay)"),
    ("log_level", "info", "debug | info | warn | error"),
    (
        "dds_profile",
        "",
        "Fast DDS XML profile for the node; empty = packaged config/dds/fastdds_hd.xml, none = leave "
        "DDS alone (never over the environment's own Fast DDS settings)",
    ),
)
# Launch arguments passed on as node parameters when they are not empty.
PARAMETER_ARGUMENTS = ("backend", "model_path", "device", "image_transport")
BOOLEAN_PARAMETERS = ("autostart", "use_sim_time")


def _dds_environment(profile: str) -> dict[str, str]:
    """Profile variables for the node where the user configured no Fast DDS transport (stdc_ros.dds_profile)."""
    from stdc_ros.dds_profile import hd_profile_path, profile_environment

    if profile.lower() == "none":
        return {}
    return profile_environment(profile or hd_profile_path())


def _node(context: LaunchContext) -> list[LifecycleNode]:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params_file = arg("params_file") or PathJoinSubstitution([FindPackageShare(PACKAGE), *PARAMS_FILE])
    overrides: dict[str, object] = {name: arg(name) for name in PARAMETER_ARGUMENTS if arg(name)}
    overrides.update({name: arg(name).lower() in ("true", "1", "yes") for name in BOOLEAN_PARAMETERS})
    image = arg("image")
    remappings = [
        ("~/in/image", image),
        ("~/in/image/compressed", f"{image}/compressed"),
        ("~/in/camera_info", arg("camera_info")),
    ]
    return [
        LifecycleNode(
            package=PACKAGE,
            executable=EXECUTABLE,
            name=arg("node_name"),
            namespace=arg("camera"),
            parameters=[params_file, overrides],
            remappings=remappings,
            arguments=["--ros-args", "--log-level", arg("log_level")],
            output="screen",
            emulate_tty=True,
            additional_env=_dds_environment(arg("dds_profile")),
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_node)]
    )
