#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer, nightly): `tools/fuzz.sh [TARGET|all] [SECONDS]`.
# cargo-fuzz is installed into tools/cargo-fuzz on first use (from crates.io, pinned by --locked).
# The code under test forbids `unsafe`, so the targets run without a sanitizer: they look for
# panics and for the properties each target asserts. A crash is kept in fuzz/artifacts/TARGET/ and
# replays with `cargo +nightly fuzz run --sanitizer none TARGET fuzz/artifacts/TARGET/<file>`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-all}"
seconds="${2:-60}"
version=0.13.2
if [ ! -x "$root/tools/cargo-fuzz/bin/cargo-fuzz" ]; then
  cargo install cargo-fuzz --version "$version" --locked --root "$root/tools/cargo-fuzz"
fi
export PATH="$root/tools/cargo-fuzz/bin:$PATH"
cd "$root/fuzz"
if [ "$target" = all ]; then
  targets=$(cargo +nightly fuzz list)
else
  targets="$target"
fi
for name in $targets; do
  mkdir -p "corpus/$name"
  seeds=()
  [ -d "seeds/$name" ] && seeds=("seeds/$name")
  echo "==> fuzz $name for ${seconds}s"
  cargo +nightly fuzz run --sanitizer none "$name" "corpus/$name" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1
done
