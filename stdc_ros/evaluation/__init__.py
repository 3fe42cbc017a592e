"""Run the node on a rosbag and score it (``stdc-ros eval``): inputs, the live run, matching, scoring, the report.

Bags come from stdc_ros.rosbag; the node process and its client from stdc_ros.harness; figures from stdc_ros.plots.
"""
