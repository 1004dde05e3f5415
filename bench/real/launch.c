/* bench-launch: runs one command and writes its resource usage to a file.
     bench-launch RESULT_FILE PRELOAD|- COMMAND [ARGS...]
   Forks, sets LD_PRELOAD=PRELOAD in the child (unsets it for "-"), executes COMMAND, waits for it
   with wait4 and writes one line to RESULT_FILE:
     wall_s peak_rss_kib minflt majflt utime_s stime_s wait_status
   Why a separate program: a child's ru_maxrss counts the RSS its parent had when it forked, so a
   command forked straight from the Python driver would be charged the driver's 15 MiB. Forked
   from this small process it is charged at most this process's ~1 MiB. peak RSS covers the
   command and every descendant it waited for (g++ and its cc1plus). Exits with the command's
   status (128 + signal number when it was killed). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench-launch RESULT_FILE PRELOAD|- COMMAND [ARGS...]\n");
    return 2;
  }
  const char* result = argv[1];
  const char* preload = argv[2];
  double t0 = now_s();
  pid_t pid = fork();
  if (pid < 0) {
    perror("bench-launch: fork");
    return 2;
  }
  if (pid == 0) {
    if (strcmp(preload, "-") == 0) {
      unsetenv("LD_PRELOAD");
    } else {
      setenv("LD_PRELOAD", preload, 1);
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "bench-launch: cannot run %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("bench-launch: wait4");
      return 2;
    }
  }
  double wall = now_s() - t0;
  FILE* f = fopen(result, "w");
  if (f == NULL) {
    perror("bench-launch: result file");
    return 2;
  }
  fprintf(f, "%.6f %ld %ld %ld %.6f %.6f %d\n", wall, ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt,
          tv_s(ru.ru_utime), tv_s(ru.ru_stime), status);
  fclose(f);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
