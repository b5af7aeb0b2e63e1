/* common.h — includes and small definitions shared by the example programs.
 *
 * Only uapi headers and libbpf's bpf_helpers.h/bpf_endian.h are used, so the
 * programs build with Debian's linux-libc-dev and libbpf-dev (no vmlinux.h).
 */
#ifndef BPFSCOPE_EXAMPLES_COMMON_H
#define BPFSCOPE_EXAMPLES_COMMON_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* <linux/icmp.h> pulls in libc socket headers, so define what we need. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

/* IPv4 fragment bits in iphdr.frag_off (host order after bpf_ntohs). */
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#endif
