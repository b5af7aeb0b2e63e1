#!/bin/sh
# Rebuild the objects of names_test.go. Needs clang-19, llvm-19 and
# libbpf-dev.
set -eu
cd "$(dirname "$0")"
CFLAGS="-target bpf -mcpu=v4 -O2 -Wall -Werror -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu"
clang-19 $CFLAGS -g -c names.c -o names.o
llvm-strip-19 --strip-debug names.o -o names-nodwarf.o
# Without BTF, maps must be legacy bpf_map_def ones.
clang-19 $CFLAGS -DLEGACY_MAPS -c names.c -o names-nog.o
clang-19 $CFLAGS -DLEGACY_MAPS -g -c names.c -o names-legacy.o
# llvm-strip would strip the symbols too; the loader needs them.
llvm-objcopy-19 --remove-section=.BTF --remove-section=.BTF.ext names-legacy.o names-nobtf.o
rm names-legacy.o
