/* core_target.c — the "kernel" BTF core.c is relocated against: struct
 * task with tgid at 0, pid at 8, no field gone, 16 bytes.
 */
struct task {
	int tgid;
	int pad;
	int pid;
	int more;
};

struct task t;
