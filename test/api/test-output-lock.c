/* test-output-lock: an output callback that allocates, while shardalloc prints from inside its own
   locks. With MIMALLOC_ARENA_RESERVE=32M every new segment needs a new arena, and with
   MIMALLOC_VERBOSE=1 adding an arena prints a line, which used to reach the callback with the
   arena lock held: the callback's own allocations of large blocks need new arenas too, and the
   thread deadlocked on that lock. Messages are now held back until the thread holds no allocator
   lock. The work runs in a child process with a deadline (a hang is killed and reported); it
   must see the callback called, and called with no lock held (its allocations succeed). */
#include <mimalloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static __thread int in_callback;  // a logger guards against its own recursion, as real ones do
static atomic_ullong calls, callback_allocs;

static void allocating_logger(const char* msg, void* arg) {
  (void)msg; (void)arg;
  atomic_fetch_add(&calls, 1);
  if (in_callback) return;
  in_callback = 1;
  void* p[3];
  for (int i = 0; i < 3; i++) {  // large blocks: each takes slices of a segment of its own
    p[i] = mi_malloc(12u << 20);
    if (p[i] != NULL) {
      memset(p[i], 1, 4096);
      atomic_fetch_add(&callback_allocs, 1);
    }
  }
  for (int i = 0; i < 3; i++) mi_free(p[i]);
  in_callback = 0;
}

static int child(void) {
  mi_register_output(&allocating_logger, NULL);
  void* blocks[12];
  for (int i = 0; i < 12; i++) {
    blocks[i] = mi_malloc(14u << 20);  // 12 segments, 12 new arenas, 12 lines
    if (blocks[i] == NULL) return 2;
    memset(blocks[i], 2, 4096);
  }
  for (int i = 0; i < 12; i++) mi_free(blocks[i]);
  mi_register_output(NULL, NULL);
  if (atomic_load(&calls) == 0) return 3;  // nothing printed: the test did not test anything
  if (atomic_load(&callback_allocs) == 0) return 4;
  return 0;
}

int main(void) {
  t_begin("test-output-lock", "an allocating output callback while the allocator holds a lock");
  fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(30);  // a deadlock ends in SIGALRM
    _exit(child());
  }
  int status = 0;
  if (CHECK(pid > 0, "fork failed")) {
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
      (void)CHECK(false, "the child died of signal %d (%s)%s", WTERMSIG(status),
                  strsignal(WTERMSIG(status)),
                  WTERMSIG(status) == SIGALRM ? ": deadlocked in the output callback" : "");
    else
      CHECK(WEXITSTATUS(status) == 0, "the child exited with %d (3: no message, 4: the "
            "callback could not allocate)", WEXITSTATUS(status));
  }
  return t_end();
}
