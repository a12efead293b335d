#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's `kubernetes` source
# package (see shared/design/testbed.md): no registry ships these binaries and this
# machine has no container engine. Idempotent: a finished build is a directory holding
# both binaries plus a `.complete` marker; everything else is rebuilt from scratch.
#
# Usage: build-kube.sh CACHE_DIR      (binaries end up in CACHE_DIR/bin)
set -euo pipefail

cache=${1:?usage: build-kube.sh CACHE_DIR}
bin="$cache/bin"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
if [[ -f "$cache/.complete" ]]; then
  if ! command -v etcd >/dev/null; then
    $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q etcd-server
  fi
  echo "kube binaries already built in $bin"
  exit 0
fi

step() { printf '\n==> [build-kube %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if ! command -v apt-get >/dev/null || [[ ! -d /etc/apt ]]; then
  echo "error: building Kubernetes needs a Debian-like system with apt-get." >&2
  echo "Set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and" >&2
  echo "kube-controller-manager (e.g. from 'setup-envtest use 1.30'), or put them on PATH." >&2
  exit 2
fi
src_list=/etc/apt/sources.list.d/asyncaction-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  step "adding a deb-src entry for bookworm main"
  $sudo tee "$src_list" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $sudo apt-get update -q
elif ! apt-cache showsrc kubernetes >/dev/null 2>&1; then
  $sudo apt-get update -q
fi

need=()
for pkg in etcd-server golang-go rsync jq golang-github-modern-go-reflect2-dev dpkg-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  step "installing build dependencies: ${need[*]}"
  if ! apt-cache policy golang-go | grep -q Candidate; then $sudo apt-get update -q; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

work="$cache/src"
rm -rf "$work" && mkdir -p "$work" "$bin"
cd "$work"
step "downloading the kubernetes source package"
apt-get source --download-only kubernetes
step "unpacking"
dpkg-source --no-check -x ./*.dsc tree >/dev/null
cd tree

step "replacing vendored reflect2 1.0.1 (crashes under Go >= 1.18) with Debian's 1.0.2"
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -f vendor/github.com/modern-go/reflect2/go.mod vendor/github.com/modern-go/reflect2/go.sum

mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
export GOPATH=$PWD/.go CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=off
export GOCACHE="$cache/gocache"
for what in kube-apiserver kube-controller-manager; do
  step "compiling $what (several minutes on 2 cores)"
  make WHAT=cmd/$what
  cp _output/local/bin/linux/*/$what "$bin/"
done
version=$(sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
echo "$version" > "$cache/VERSION"
cd "$cache" && rm -rf "$work" "$cache/gocache"
touch "$cache/.complete"
step "done: $(ls "$bin") in $bin (debian version $version)"
