"""A real node for the local control plane: containerd, runc, kubelet, kube-proxy, CNI.

kwok's fake nodes cannot run a container: this package runs real pods from images
built here (`images`), on a node started and stopped by `node`. See
docs/real-node.md for what it needs and what it leaves behind (nothing).
"""
