#!/bin/sh
# Rebuild capture.o from capture.c: ./build.sh
# Needs clang-19 (for -mcpu=v4) and libbpf-dev; override with CLANG=...
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
CFLAGS="-target bpf -mcpu=v4 -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu"
echo "  CC  capture.o"
$CLANG $CFLAGS -c capture.c -o capture.o
