/* test-main-exit: a process whose main thread ends with pthread_exit ends when its last thread
   of its own does, whatever the memory-return engine's helper thread is doing. The child frees
   64 MiB (the helper starts, as memory is pending), starts a thread that frees more and returns,
   and ends its main thread with pthread_exit; the parent waits for the child to end (30 s at
   most, then kills it: the helper slept on its condition variable forever and kept the process
   alive, as CPython's test_threading found when a thread forks and its child's only thread
   ends). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MIB ((size_t)1 << 20)

static void churn(size_t count, size_t size) {
  void* blocks[64];
  for (size_t i = 0; i < count; i++) {
    blocks[i] = malloc(size);
    if (blocks[i] != NULL) memset(blocks[i], 1, size);
  }
  for (size_t i = 0; i < count; i++) free(blocks[i]);
}

static void* last_thread(void* arg) {
  (void)arg;
  churn(32, 256 * 1024);
  usleep(50 * 1000);
  return NULL;
}

static int child_main(void) {
  churn(16, 4 * MIB);  // pending memory: the helper thread is asked for
  for (int i = 0; i < 100; i++) free(malloc(100 + (size_t)i));  // a safe point starts it
  usleep(100 * 1000);
  pthread_t t;
  if (pthread_create(&t, NULL, &last_thread, NULL) != 0) return 2;
  pthread_detach(t);
  pthread_exit(NULL);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_main();
  t_begin("test-main-exit", "the process ends when its main thread exits with pthread_exit");
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], "--child", (char*)NULL);
    _exit(127);
  }
  CHECK(pid > 0, "fork");
  int status = 0;
  pid_t got = 0;
  const double start = t_now();
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && t_now() - start < 30.0) {
    usleep(20 * 1000);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK(got == pid, "the child ended by itself (it still ran after %.0f s)", t_now() - start);
  if (got == pid) {
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child exited with status 0 (%d)",
          status);
    t_section("ended after %.2f s", t_now() - start);
  }
  return t_end();
}
