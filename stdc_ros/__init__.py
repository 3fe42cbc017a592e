"""stdc_ros: STDC semantic segmentation and drivable-area estimation for ROS 2 cameras."""

__version__ = "0.1.0"
