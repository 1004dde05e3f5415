/* real-rusage RESULT PRELOAD PROGRAM [ARGS...]: runs PROGRAM and writes its wall time and peak RSS
 * to the file RESULT, for the real-program tests (test/real/realtest.py).
 *
 * Why a separate process: Linux carries a process's RSS high-water mark across fork and exec, so a
 * program forked straight from the Python driver would report at least the driver's own RSS (tens
 * of MiB) as its peak. Forked from this small process, it starts from this process's RSS (about
 * 1 MiB) instead. ru_maxrss from wait4 covers PROGRAM and every descendant it waited for.
 *
 * PRELOAD: the value of LD_PRELOAD for PROGRAM, or "-" for none. It is passed as an argument so
 * that this process itself never runs with the preload (its own "process init" line would count
 * as the program's in the driver's probes).
 *
 * RESULT gets one line: "<wall seconds> <ru_maxrss KiB> <wait status> <minor faults> <major
 * faults> <user seconds> <system seconds>". It also serves bench/real/run.py (the bench-launch
 * target builds this file). The exit status is
 * PROGRAM's, or 128+N when signal N ended it (after RESULT is written); 127 when it cannot run.
 * Signals SIGTERM and SIGINT sent to this process are passed on to PROGRAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s RESULT PRELOAD|- PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  const char *result = argv[1];
  const char *preload = argv[2];

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("real-rusage: fork");
    return 127;
  }
  if (pid == 0) {
    if (strcmp(preload, "-") == 0) {
      unsetenv("LD_PRELOAD");
    } else if (setenv("LD_PRELOAD", preload, 1) != 0) {
      perror("real-rusage: setenv");
      _exit(127);
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "real-rusage: cannot run %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  child_pid = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int status = 0;
  struct rusage ru;
  pid_t w;
  do {
    w = wait4(pid, &status, 0, &ru);
  } while (w < 0 && errno == EINTR);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (w < 0) {
    perror("real-rusage: wait4");
    return 127;
  }
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  FILE *f = fopen(result, "w");
  const double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  const double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  if (f == NULL ||
      fprintf(f, "%.6f %ld %d %ld %ld %.6f %.6f\n", wall, ru.ru_maxrss, status, ru.ru_minflt,
              ru.ru_majflt, user, sys) < 0 ||
      fclose(f) != 0) {
    perror("real-rusage: writing the result");
    return 127;
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
