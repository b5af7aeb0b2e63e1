/* types.c — C types for debuginfo's tests: a bitfield struct, a union,
 * an enum, arrays and pointers, used by a function that keeps them live.
 * Build: clang-19 -target bpf -mcpu=v4 -O2 -g -c types.c -o types.o */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef __u32 __be32;

enum color { RED = 1, GREEN = 2, BLUE = 4 };

struct flags {
	__u32 a : 3;
	__u32 b : 5;
	int c : 4;
	__u32 d;
};

union word {
	__u32 w;
	__u8 bytes[4];
};

struct pkt {
	__u8 h_dest[6];
	__be32 saddr;
	enum color col;
	struct flags fl;
	union word u;
	__u16 ports[2];
};

struct pkt global_pkt = {
	.h_dest = {2, 0, 0, 0, 0, 1},
	.saddr = 0x0200000a, /* 10.0.0.2 in network order, little-endian host */
	.col = GREEN,
	.fl = {.a = 5, .b = 17, .c = -3, .d = 9},
	.u = {.w = 0x01020304},
	.ports = {53, 80},
};

__attribute__((section("xdp"), used)) int types_prog(void *ctx)
{
	struct pkt *p = &global_pkt;
	volatile struct pkt copy = *p;

	return copy.fl.a + p->col;
}
