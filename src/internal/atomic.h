/* Atomics used by shardalloc: thin names over C11 <stdatomic.h> that state the memory order at
 * the call site. Nothing here allocates or calls into other layers. */
#pragma once
#ifndef SA_ATOMIC_H
#define SA_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define _Atomic_t(tp) _Atomic(tp)

#define mi_atomic_load_relaxed(p)    atomic_load_explicit(p, memory_order_relaxed)
#define mi_atomic_load_acquire(p)    atomic_load_explicit(p, memory_order_acquire)
#define mi_atomic_store_relaxed(p, x) atomic_store_explicit(p, x, memory_order_relaxed)
#define mi_atomic_store_release(p, x) atomic_store_explicit(p, x, memory_order_release)
#define mi_atomic_exchange_acq_rel(p, x) atomic_exchange_explicit(p, x, memory_order_acq_rel)
#define mi_atomic_add_relaxed(p, x)  atomic_fetch_add_explicit(p, x, memory_order_relaxed)
#define mi_atomic_sub_relaxed(p, x)  atomic_fetch_sub_explicit(p, x, memory_order_relaxed)
#define mi_atomic_add_acq_rel(p, x)  atomic_fetch_add_explicit(p, x, memory_order_acq_rel)
#define mi_atomic_or_acq_rel(p, x)   atomic_fetch_or_explicit(p, x, memory_order_acq_rel)
#define mi_atomic_and_acq_rel(p, x)  atomic_fetch_and_explicit(p, x, memory_order_acq_rel)

// Compare-and-swap: on failure `*expected` is updated with the current value.
#define mi_atomic_cas_weak_relaxed(p, expected, desired) \
  atomic_compare_exchange_weak_explicit(p, expected, desired, memory_order_relaxed, memory_order_relaxed)
#define mi_atomic_cas_weak_release(p, expected, desired) \
  atomic_compare_exchange_weak_explicit(p, expected, desired, memory_order_release, memory_order_relaxed)
#define mi_atomic_cas_weak_acq_rel(p, expected, desired) \
  atomic_compare_exchange_weak_explicit(p, expected, desired, memory_order_acq_rel, memory_order_acquire)
#define mi_atomic_cas_strong_acq_rel(p, expected, desired) \
  atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_acq_rel, memory_order_acquire)

// Spin-wait hint for the few places that wait on another thread finishing a two-step update.
static inline void mi_atomic_yield(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield" ::: "memory");
#else
  atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
