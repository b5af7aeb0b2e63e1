/* syscall.c — a BPF_PROG_TYPE_SYSCALL program (always sleepable).
 *
 * Shows: a user-defined context that the test run copies in and back out,
 * and bpf_snprintf (through libbpf's BPF_SNPRINTF macro) writing a string.
 *
 * Computes ctx->product = a * b and ctx->msg = "a*b=product"; returns the
 * length bpf_snprintf reported (including the NUL).
 */
#include "common.h"

struct mul_args {
	__u32 a;
	__u32 b;
	__u64 product;	/* out */
	__s32 ret;	/* out: bpf_snprintf result */
	char msg[28];	/* out */
};

SEC("syscall")
int multiply(struct mul_args *ctx)
{
	char buf[sizeof(ctx->msg)] = {};
	__u32 a = ctx->a, b = ctx->b;
	__u64 product = (__u64)a * b;
	long n;

	n = BPF_SNPRINTF(buf, sizeof(buf), "%u*%u=%llu", a, b, product);
	ctx->product = product;
	ctx->ret = n;
	__builtin_memcpy(ctx->msg, buf, sizeof(buf));
	return n;
}

char LICENSE[] SEC("license") = "GPL";
