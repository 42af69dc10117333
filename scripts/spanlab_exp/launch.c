/*
 * spanlab-exp-launch - run one workload and report the workload's own resource use.
 *
 * usage: spanlab-exp-launch REPORT_FILE PROGRAM [ARG]...
 *
 * Why: Linux carries a process's peak RSS (ru_maxrss) across exec, and a child
 * forked (or vforked) by the Python runner starts with the runner's peak RSS,
 * tens of MiB, so wait4 in the runner would report max(runner, workload). This
 * launcher is a small C program: the workload is forked from it, so its peak RSS
 * starts near zero, and wait4 here sees the workload alone. After the workload
 * ends the launcher writes "user_s sys_s maxrss_kb" to REPORT_FILE and exits
 * with the workload's exit status, or dies of the workload's signal. Both the
 * launcher and the workload are killed if their parent dies (PR_SET_PDEATHSIG).
 *
 * scripts/spanlab-exp compiles this file with the C compiler at the start of a
 * run (into a temporary folder) and falls back to direct wait4 if it cannot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spanlab-exp-launch REPORT_FILE PROGRAM [ARG]...\n");
		return 125;
	}
	/* If the runner is killed outright (SIGKILL, a lost ssh session), take the
	 * workload down too rather than leave it running unobserved. */
	pid_t runner = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != runner)
		return 125;
	pid_t launcher = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("spanlab-exp-launch: fork");
		return 125;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != launcher)
			_exit(125);
		execv(argv[2], argv + 2);
		fprintf(stderr, "spanlab-exp-launch: cannot run %s: %s\n", argv[2],
			strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("spanlab-exp-launch: wait4");
			return 125;
		}
	}
	FILE *f = fopen(argv[1], "w");
	if (f) {
		fprintf(f, "%ld.%06ld %ld.%06ld %ld\n", (long)ru.ru_utime.tv_sec,
			(long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
			(long)ru.ru_stime.tv_usec, ru.ru_maxrss);
		fclose(f);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	/* Die the same way, without a core file of our own. */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(WTERMSIG(status), SIG_DFL);
	raise(WTERMSIG(status));
	return 128 + WTERMSIG(status);
}
