/* fuzz-replay: runs a harness's inputs without libFuzzer (fuzz-ops.c, or fuzz-api.c with
 * FUZZ_HARNESS="fuzz-api"), so that the committed corpus is a regression test in every build
 * (any compiler, the library linked as usual; ctest fuzz-corpus, fuzz-api-corpus). Arguments are
 * files or directories (their regular files, in name order). Each input is named before it runs:
 * a failing one aborts the program right after its name. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerInitialize(int* argc, char*** argv);
int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#ifndef FUZZ_HARNESS
#define FUZZ_HARNESS "fuzz-ops"
#define FUZZ_CHECKS \
  "contents, zeroing, alignment, usable sizes, heaps, remote frees, no block left behind"
#else
#define FUZZ_CHECKS \
  "contents, zeroing, alignment, usable sizes, ownership, heaps, visits, no block left behind"
#endif

static unsigned long replayed;

static void replay_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "fuzz-replay: cannot open %s\n", path);
    exit(1);
  }
  static uint8_t data[1 << 20];  // inputs are a few KiB (libFuzzer's -max_len)
  const size_t n = fread(data, 1, sizeof(data), f);
  fclose(f);
  printf("  %s (%zu bytes)\n", path, n);
  fflush(stdout);
  LLVMFuzzerTestOneInput(data, n);
  replayed++;
}

static int by_name(const struct dirent** a, const struct dirent** b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay_path(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "fuzz-replay: no such file or directory: %s\n", path);
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) {
    replay_file(path);
    return;
  }
  struct dirent** names;
  const int n = scandir(path, &names, NULL, &by_name);
  if (n < 0) {
    fprintf(stderr, "fuzz-replay: cannot read the directory %s\n", path);
    exit(1);
  }
  for (int i = 0; i < n; i++) {
    char file[4096];
    snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
    if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
      replay_file(file);
    }
    free(names[i]);
  }
  free(names);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  printf("fuzz-replay: every input through the " FUZZ_HARNESS " harness (" FUZZ_CHECKS ")\n");
  LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) replay_path(argv[i]);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("fuzz-replay: %lu passed, 0 failed (%.2f s)\n", replayed, secs);
  return replayed > 0 ? 0 : 1;
}
