/*
 * trace FUNCS OUT BINARY [ARGS...]: run BINARY under ptrace and append to
 * OUT the name of every function of BINARY that ran, once, in the order
 * each was first called. FUNCS lists BINARY's functions, one per line:
 * "<file offset in hex> <symbol>". Only for `just layout`: it finds the
 * code rt runs, so that the linker can put it together.
 *
 * Each function's first byte becomes a breakpoint (int3); the first call
 * traps, is written down, and gets its byte back, so every function costs
 * one trap. Forks and clones are followed while they run BINARY (a copy of
 * the memory keeps the breakpoints not yet hit); a process that executes
 * another program is let go; one that executes BINARY again gets the
 * breakpoints of the functions not seen yet.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TASKS 128

struct func {
	uint64_t off;
	char *name;
	unsigned char orig;
	int seen;
};

struct task {
	pid_t pid;
	uint64_t start, end, pgoff; /* BINARY's executable mapping in it */
	int started;                /* its first stop (a SIGSTOP) was seen */
};

static struct func *funcs;
static size_t nfuncs;
static struct task tasks[MAX_TASKS];
static dev_t bin_dev;
static ino_t bin_ino;
static FILE *out;

static int by_off(const void *a, const void *b)
{
	const struct func *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static struct func *func_at(uint64_t off)
{
	struct func key = {.off = off};
	return bsearch(&key, funcs, nfuncs, sizeof(*funcs), by_off);
}

static void load_funcs(const char *list, const char *binary)
{
	FILE *f = fopen(list, "r");
	int fd = open(binary, O_RDONLY);
	if (!f || fd < 0) {
		perror("trace: cannot open the function list or the binary");
		exit(1);
	}
	size_t cap = 0;
	char line[4096], name[4000];
	unsigned long off;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx %3999s", &off, name) != 2)
			continue;
		if (nfuncs == cap) {
			cap = cap ? cap * 2 : 4096;
			funcs = realloc(funcs, cap * sizeof(*funcs));
			if (!funcs)
				exit(1);
		}
		struct func *fn = &funcs[nfuncs];
		fn->off = off;
		fn->seen = 0;
		if (pread(fd, &fn->orig, 1, (off_t)off) != 1)
			continue;
		fn->name = strdup(name);
		nfuncs++;
	}
	fclose(f);
	close(fd);
	qsort(funcs, nfuncs, sizeof(*funcs), by_off);
	/* Aliases share an offset: keep one. */
	size_t j = 0;
	for (size_t i = 0; i < nfuncs; i++)
		if (j == 0 || funcs[j - 1].off != funcs[i].off)
			funcs[j++] = funcs[i];
	nfuncs = j;
}

static struct task *find(pid_t pid)
{
	for (int i = 0; i < MAX_TASKS; i++)
		if (tasks[i].pid == pid)
			return &tasks[i];
	return NULL;
}

static struct task *add(pid_t pid)
{
	struct task *t = find(pid);
	if (t)
		return t;
	t = find(0);
	if (!t) {
		fprintf(stderr, "trace: more than %d tasks\n", MAX_TASKS);
		exit(1);
	}
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	return t;
}

static int write_byte(pid_t pid, uint64_t addr, unsigned char b)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	int ok = pwrite(fd, &b, 1, (off_t)addr) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* Find BINARY's r-xp mapping in the task; 0 when it runs something else. */
static int locate(struct task *t)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", t->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	t->start = t->end = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, ino;
		unsigned maj, min;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &s, &e, perms, &off, &maj, &min,
			   &ino) != 7)
			continue;
		if (strcmp(perms, "r-xp") == 0 && ino == bin_ino && makedev(maj, min) == bin_dev) {
			t->start = s;
			t->end = e;
			t->pgoff = off;
		}
	}
	fclose(f);
	return t->end != 0;
}

/* A fresh image of BINARY: a breakpoint on every function not seen yet. */
static void arm(struct task *t)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return;
	unsigned char int3 = 0xcc;
	for (size_t i = 0; i < nfuncs; i++) {
		struct func *fn = &funcs[i];
		if (fn->seen || fn->off < t->pgoff || fn->off - t->pgoff >= t->end - t->start)
			continue;
		if (pwrite(fd, &int3, 1, (off_t)(t->start + fn->off - t->pgoff)) != 1)
			break;
	}
	close(fd);
}

/* A SIGTRAP: a breakpoint of ours, or something the program does. */
static int hit(struct task *t)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, t->pid, 0, &regs) != 0)
		return 0;
	uint64_t at = regs.rip - 1;
	if (at < t->start || at >= t->end)
		return 0;
	struct func *fn = func_at(at - t->start + t->pgoff);
	if (!fn)
		return 0;
	if (!fn->seen) {
		fn->seen = 1;
		fprintf(out, "%s\n", fn->name);
	}
	/* Another process may have hit it first: its copy is not this one. */
	write_byte(t->pid, at, fn->orig);
	regs.rip = at;
	ptrace(PTRACE_SETREGS, t->pid, 0, &regs);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: trace FUNCS OUT BINARY [ARGS...]\n");
		return 2;
	}
	struct stat st;
	if (stat(argv[3], &st) != 0) {
		perror(argv[3]);
		return 1;
	}
	bin_dev = st.st_dev;
	bin_ino = st.st_ino;
	load_funcs(argv[1], argv[3]);
	out = fopen(argv[2], "a");
	if (!out) {
		perror(argv[2]);
		return 1;
	}

	pid_t child = fork();
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		/* One address layout for every exec of BINARY. */
		personality(ADDR_NO_RANDOMIZE);
		raise(SIGSTOP);
		execv(argv[3], argv + 3);
		_exit(127);
	}
	int status;
	waitpid(child, &status, 0);
	ptrace(PTRACE_SETOPTIONS, child, 0,
	       PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
		       PTRACE_O_EXITKILL);
	add(child)->started = 1;
	ptrace(PTRACE_CONT, child, 0, 0);
	int code = 0;
	for (;;) {
		pid_t pid = waitpid(-1, &status, __WALL);
		if (pid < 0) {
			if (errno == ECHILD)
				break;
			continue;
		}
		struct task *t = find(pid);
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (pid == child)
				code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			if (t)
				t->pid = 0;
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		if (!t)
			t = add(pid);
		int sig = WSTOPSIG(status);
		int event = status >> 16;
		int first = !t->started;
		t->started = 1;
		int deliver = 0;
		if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
			if (!locate(t)) {
				ptrace(PTRACE_DETACH, pid, 0, 0);
				t->pid = 0;
				continue;
			}
			arm(t);
		} else if (sig == SIGTRAP && event != 0) {
			/* fork/clone: the child runs the same mapping. */
			unsigned long newpid;
			ptrace(PTRACE_GETEVENTMSG, pid, 0, &newpid);
			struct task *c = add((pid_t)newpid);
			c->start = t->start;
			c->end = t->end;
			c->pgoff = t->pgoff;
		} else if (sig == SIGSTOP && first) {
			/* A new child's first stop, maybe before its parent's event. */
			struct task *p = find(child);
			if (t->end == 0 && p) {
				t->start = p->start;
				t->end = p->end;
				t->pgoff = p->pgoff;
			}
		} else if (!(sig == SIGTRAP && hit(t))) {
			deliver = sig;
		}
		ptrace(PTRACE_CONT, pid, 0, deliver);
	}
	fclose(out);
	return code;
}
