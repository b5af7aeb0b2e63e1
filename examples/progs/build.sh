#!/bin/sh
# Rebuild every example program: ./build.sh [file.c ...]
# Needs clang-19 (for -mcpu=v4) and libbpf-dev; override with CLANG=...
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
# -ffile-prefix-map: debug info and BTF name the sources ./file.c, not the
# directory of the machine that built them (see bpfscope's --source-dir).
CFLAGS="-ffile-prefix-map=$(pwd)=. -target bpf -mcpu=v4 -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu"
[ $# -gt 0 ] || set -- *.c
for src in "$@"; do
	echo "  CC  ${src%.c}.o"
	$CLANG $CFLAGS -c "$src" -o "${src%.c}.o"
done
