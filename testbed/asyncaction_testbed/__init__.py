"""Local test bed: a real control plane, a node agent playing the kubelet, and S3."""
