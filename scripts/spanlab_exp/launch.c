/*
 * spanlab-exp-launch - run one measured program and report its own resource use.
 *
 * usage: spanlab-exp-launch [-p LIB] [-r RSS_FILE] [-i MS] REPORT_FILE PROGRAM [ARG]...
 *
 *   -p LIB       set LD_PRELOAD=LIB in the program's environment only (the launcher
 *                itself runs on the system allocator)
 *   -r RSS_FILE  sample the program's resident set every -i milliseconds (default
 *                10) from /proc/PID/status (VmRSS) and write one line per sample,
 *                "MS KB" (milliseconds since the start, KiB)
 *
 * Why a launcher: Linux carries a process's peak RSS (ru_maxrss) across exec, and a
 * child forked (or vforked) by the Python runner starts with the runner's peak RSS,
 * tens of MiB, so wait4 in the runner would report max(runner, program). The
 * program is forked from this small C process, so its peak RSS starts near zero,
 * and wait4 here sees the program alone. After the program ends the launcher
 * writes one line to REPORT_FILE,
 *     user_s sys_s maxrss_kb minflt majflt nvcsw nivcsw wall_s
 * (wall_s from fork to the end of wait4, CLOCK_MONOTONIC) and exits with the
 * program's exit status, or dies of the program's signal. Both the launcher and
 * the program are killed if their parent dies (PR_SET_PDEATHSIG).
 *
 * Between samples the launcher waits for SIGCHLD with sigtimedwait, so the end of
 * the program is noticed at once, not at the next sample. CMake builds this file
 * (target spanlab-exp-launch, into the build folder's bin/); the runner finds it
 * there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* VmRSS of pid in KiB, or -1 (the process is gone or not readable). */
static long vmrss_kb(const char *status_path)
{
	FILE *f = fopen(status_path, "r");
	if (!f)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static void usage(void)
{
	fprintf(stderr, "usage: spanlab-exp-launch [-p LIB] [-r RSS_FILE] [-i MS] "
			"REPORT_FILE PROGRAM [ARG]...\n");
}

int main(int argc, char **argv)
{
	const char *preload = NULL, *rss_path = NULL;
	long interval_ms = 10;
	int opt;
	while ((opt = getopt(argc, argv, "+p:r:i:")) != -1) {
		switch (opt) {
		case 'p': preload = optarg; break;
		case 'r': rss_path = optarg; break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		default: usage(); return 125;
		}
	}
	if (argc - optind < 2 || interval_ms < 1) {
		usage();
		return 125;
	}
	const char *report = argv[optind];
	char **prog = argv + optind + 1;

	/* If the runner is killed outright (SIGKILL, a lost ssh session), take the
	 * program down too rather than leave it running unobserved. */
	pid_t runner = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != runner)
		return 125;
	FILE *rss = NULL;
	if (rss_path && !(rss = fopen(rss_path, "w"))) {
		perror("spanlab-exp-launch: RSS file");
		return 125;
	}
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);

	pid_t launcher = getpid();
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		perror("spanlab-exp-launch: fork");
		return 125;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != launcher)
			_exit(125);
		if (preload && setenv("LD_PRELOAD", preload, 1) != 0)
			_exit(125);
		execv(prog[0], prog);
		fprintf(stderr, "spanlab-exp-launch: cannot run %s: %s\n", prog[0],
			strerror(errno));
		_exit(127);
	}
	char status_path[64];
	snprintf(status_path, sizeof status_path, "/proc/%d/status", (int)pid);
	struct timespec tick = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
	int status;
	struct rusage ru;
	for (;;) {
		pid_t r = wait4(pid, &status, rss ? WNOHANG : 0, &ru);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			perror("spanlab-exp-launch: wait4");
			return 125;
		}
		if (r == 0) {	/* still running: one sample, then wait a tick */
			long kb = vmrss_kb(status_path);
			if (kb >= 0)
				fprintf(rss, "%.0f %ld\n", (now_s() - t0) * 1e3, kb);
			sigtimedwait(&chld, NULL, &tick);
		}
	}
	double wall = now_s() - t0;
	if (rss)
		fclose(rss);
	FILE *f = fopen(report, "w");
	if (f) {
		fprintf(f, "%ld.%06ld %ld.%06ld %ld %ld %ld %ld %ld %.6f\n",
			(long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
			(long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss,
			ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw, ru.ru_nivcsw, wall);
		fclose(f);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	/* Die the same way, without a core file of our own. */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(WTERMSIG(status), SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	raise(WTERMSIG(status));
	return 128 + WTERMSIG(status);
}
