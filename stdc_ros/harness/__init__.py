"""Start the node as its own process and drive it over DDS: used by evaluation, soak, the benchmarks and the tests.

``node_process`` starts and stops ``stdc-ros run``; ``client`` streams frames into it and matches the outputs;
``recorder`` records every output raw (evaluation); ``domains`` picks a ROS_DOMAIN_ID; ``params`` writes ``-p``.
"""
