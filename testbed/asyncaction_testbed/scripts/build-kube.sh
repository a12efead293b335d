#!/usr/bin/env bash
# Build Kubernetes binaries from Debian's `kubernetes` source package (see
# shared/design/testbed.md): no registry ships them and this machine has no container
# engine. By default the control plane (kube-apiserver, kube-controller-manager); name
# others to build the node too (kubelet, kube-proxy, kube-scheduler, and `pause`, the
# sandbox's process, compiled static from build/pause/linux/pause.c).
#
# Idempotent: only binaries missing from CACHE_DIR/bin are built, and a binary lands
# there (by rename) only once it compiled; `.complete` marks the control plane done.
# Everything Go builds uses `-tags providerless`: no cloud provider or cloud credential
# code, which in an unpatched kubelet tried to reach a metadata address.
#
# Usage: build-kube.sh CACHE_DIR [BINARY...]      (binaries end up in CACHE_DIR/bin)
set -euo pipefail

cache=${1:?usage: build-kube.sh CACHE_DIR [BINARY...]}
shift
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(kube-apiserver kube-controller-manager); fi
bin="$cache/bin"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
missing=()
for target in "${targets[@]}"; do
  [[ -x "$bin/$target" ]] || missing+=("$target")
done
if ((${#missing[@]} == 0)); then
  if ! command -v etcd >/dev/null; then
    $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q etcd-server
  fi
  echo "kube binaries already built in $bin: ${targets[*]}"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "another build of kube binaries runs in $cache; waiting for it" >&2
  flock 9
  missing=()
  for target in "${targets[@]}"; do [[ -x "$bin/$target" ]] || missing+=("$target"); done
  if ((${#missing[@]} == 0)); then echo "built meanwhile: ${targets[*]}"; exit 0; fi
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
for pkg in etcd-server golang-go rsync jq golang-github-modern-go-reflect2-dev dpkg-dev gcc libc6-dev; do
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
export GOPATH=$PWD/.go CGO_ENABLED=0 GO111MODULE=off
export GOFLAGS="-mod=vendor -tags=providerless"
export GOCACHE="$cache/gocache"
export AWS_EC2_METADATA_DISABLED=true
for what in "${missing[@]}"; do
  if [[ $what == pause ]]; then
    step "compiling pause (static)"
    gcc -Os -static -o "$bin/.pause.tmp" build/pause/linux/pause.c
    strip "$bin/.pause.tmp" 2>/dev/null || true
    mv "$bin/.pause.tmp" "$bin/pause"
    continue
  fi
  step "compiling $what with -tags providerless (several minutes on 2 cores)"
  make WHAT=cmd/$what GOFLAGS="$GOFLAGS"
  cp _output/local/bin/linux/*/$what "$bin/.$what.tmp"
  mv "$bin/.$what.tmp" "$bin/$what"
done
version=$(sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
echo "$version" > "$cache/VERSION"
cd "$cache" && rm -rf "$work" "$cache/gocache"
if [[ -x "$bin/kube-apiserver" && -x "$bin/kube-controller-manager" ]]; then touch "$cache/.complete"; fi
step "done: ${missing[*]} in $bin (debian version $version)"
