"""Read-only HTTP views of the node (JSON) and its Prometheus metrics."""
