#!/bin/sh
# Rebuild the loader's test objects: ./build.sh (needs clang-19, libbpf-dev).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
# -ffile-prefix-map: record ./file.c, not the build directory.
CFLAGS="-ffile-prefix-map=$(pwd)=. -target bpf -mcpu=v4 -O2 -g -Wall -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu"
for src in bad.c badmap.c core.c core_target.c hostile.c kfunc.c kfunc_meta.c kfunc_unknown.c defaults.c defaults_libbpf.c kconfig_bad.c sections.c sock.c storage.c timer.c userringbuf.c shared.c; do
	$CLANG $CFLAGS -c "$src" -o "${src%.c}.o"
done
