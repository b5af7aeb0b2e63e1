#!/bin/sh
# Rebuild the loader's test objects: ./build.sh (needs clang-19, libbpf-dev).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
CFLAGS="-target bpf -mcpu=v4 -O2 -g -Wall -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu"
for src in bad.c badmap.c core.c core_target.c hostile.c shared.c; do
	$CLANG $CFLAGS -c "$src" -o "${src%.c}.o"
done
