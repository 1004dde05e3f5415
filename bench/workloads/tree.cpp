// tree: binary trees built with `new` and torn down with `delete`, in C++ (binary-trees style).
// A long-lived tree of depth MAX_DEPTH stays up for the whole run; meanwhile, for each depth d in
// 4, 6, ..., MAX_DEPTH, many complete trees of depth d are built, walked and deleted whole (deep
// trees fewer times, so every depth allocates about the same number of nodes). The trees of each
// depth are split over T threads. Stresses allocation bursts and whole-structure frees.
// One op = one node allocated and freed.
#include <pthread.h>

#include <cstdint>
#include <vector>

#include "common.h"

namespace {

constexpr int kMinDepth = 4;
constexpr int kMaxDepth = 18;
constexpr double kTreesAtMin = 1 << 20;  // trees of depth kMinDepth at --scale 1 (in all)

struct Node {
  Node* left;
  Node* right;
  uint64_t value;
};

Node* build(int depth, uint64_t value) {
  Node* n = new Node{nullptr, nullptr, value};
  if (depth > 0) {
    n->left = build(depth - 1, 2 * value);
    n->right = build(depth - 1, 2 * value + 1);
  }
  return n;
}

uint64_t walk(const Node* n) {
  uint64_t sum = n->value & 0xff;
  if (n->left != nullptr) sum += walk(n->left) + walk(n->right);
  return sum;
}

void destroy(Node* n) {
  if (n->left != nullptr) {
    destroy(n->left);
    destroy(n->right);
  }
  delete n;
}

struct Worker {
  BENCH_OWN_LINE double scale;
  unsigned index, nthreads;
  uint64_t nodes = 0;
  uint64_t check = 0;
};

void* worker_main(void* arg) {
  Worker* w = static_cast<Worker*>(arg);
  for (int d = kMinDepth; d <= kMaxDepth; d += 2) {
    uint64_t trees = scaled(kTreesAtMin / double(1u << (d - kMinDepth)), w->scale);
    // this thread's share of the trees of depth d
    uint64_t mine = trees / w->nthreads + (w->index < trees % w->nthreads ? 1 : 0);
    for (uint64_t i = 0; i < mine; i++) {
      Node* t = build(d, i + 1);
      w->check += walk(t);
      destroy(t);
      w->nodes += (uint64_t(2) << d) - 1;
    }
  }
  return nullptr;
}

}  // namespace

extern "C" int wl_tree(const bench_args_t* a, bench_result_t* r) {
  const unsigned T = a->threads;
  std::vector<Worker> ws(T);
  for (unsigned t = 0; t < T; t++) {
    ws[t].scale = a->scale;
    ws[t].index = t;
    ws[t].nthreads = T;
  }
  double t0 = now_s();
  Node* long_lived = build(kMaxDepth, 1);
  run_threads(T, worker_main, ws.data(), sizeof(Worker));
  r->check = walk(long_lived);
  destroy(long_lived);
  r->wall_s = now_s() - t0;
  double nodes = double((uint64_t(2) << kMaxDepth) - 1);
  for (const Worker& w : ws) {
    nodes += double(w.nodes);
    r->check += w.check;
  }
  r->ops = nodes;
  return 0;
}
