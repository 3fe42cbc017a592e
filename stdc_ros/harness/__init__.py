"""Start the node as its own process and drive it over DDS: used by evaluation, soak, the benchmarks and the tests.

``node_process`` starts and stops ``stdc-ros run``; ``client`` is the one client that talks to it (publishes frames,
receives outputs raw, reads diagnostics; records for evaluation or streams for the soak and benchmarks); ``tracker``
matches outputs to frames by stamp; ``frames`` builds what is sent; ``domains`` picks a ROS_DOMAIN_ID; ``params``
writes ``-p``.
"""
