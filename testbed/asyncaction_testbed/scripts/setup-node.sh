#!/usr/bin/env bash
# Install the host packages the real node needs (see shared/design/testbed.md): the
# container runtime (containerd + runc), CNI plugins, iptables/conntrack for kube-proxy,
# dnsmasq's binary for cluster DNS, and mmdebstrap for building images from Debian
# packages. Only packages are installed: no service is enabled or started (the test bed
# starts containerd and dnsmasq itself, with configs under its own state directory).
#
# Usage: setup-node.sh          (idempotent; prints nothing to do when all are present)
set -euo pipefail

packages=(containerd runc containernetworking-plugins iptables conntrack dnsmasq-base
          mmdebstrap iproute2 kmod)
need=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]} == 0)); then
  echo "node packages already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: the real node needs a Debian-like system (apt-get) to install: ${need[*]}" >&2
  exit 2
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "==> installing node packages: ${need[*]}"
if ! apt-cache policy containerd | grep -q 'Candidate: [0-9]'; then $sudo apt-get update -q; fi
# dnsmasq-base, not dnsmasq: the latter installs a system service that would answer
# from the host's resolver; the test bed runs its own instance with no upstream.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
