#!/usr/bin/env bash
# Installs what txjournal needs to build and test, from Debian's packages.
# Safe to run again; does nothing when everything is there.
#   scripts/install-deps.sh          build, tests, benchmarks
#   scripts/install-deps.sh --fuzz   also clang-14 and its libFuzzer runtime
set -euo pipefail
pkgs=(g++ meson ninja-build pkg-config cmake liblmdb-dev libxxhash-dev doctest-dev
      libcli11-dev nlohmann-json3-dev libsqlite3-dev librocksdb-dev python3
      libnats-dev nats-server pybind11-dev python3-dev python3-pytest help2man)
if [[ ${1:-} == --fuzz ]]; then pkgs+=(clang-14 libclang-rt-14-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
