"""rosbag2 tools: read and write bags (io), make one from frames (make_bag), play one into the graph (replay).

Bags are read and written with the rosbags library (MCAP and sqlite3); rclpy is imported only where ROS is used
(ros.py: QoS, message classes, the DDS environment). Scoring the node on a bag is stdc_ros.evaluation.
"""
