"""Bag tools: make rosbags from frames (make_bag), play them (replay), run the node on them and score it (evaluate).

Bags are read and written with the rosbags library (MCAP and sqlite3); rclpy is imported only where ROS is used.
"""
