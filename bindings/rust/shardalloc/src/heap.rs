//! First-class heaps: allocate many objects in one [`Heap`] and release them all at once.
//!
//! Everything a heap hands out borrows the heap, so the borrow checker rules out using an
//! allocation after the heap is destroyed or dropped:
//!
//! ```compile_fail,E0505
//! let heap = shardalloc::Heap::new();
//! let x = heap.alloc(5u32);
//! heap.destroy(); // error: `heap` is borrowed by `x`
//! *x += 1;
//! ```
//!
//! A heap belongs to the thread that made it (it is neither `Send` nor `Sync`): only that thread
//! allocates from it, as the C library requires.
//!
//! ```compile_fail,E0277
//! let heap = shardalloc::Heap::new();
//! std::thread::spawn(move || drop(heap)); // error: `Heap` cannot be sent between threads
//! ```

use core::alloc::Layout;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::sys;

/// A first-class heap of the calling thread.
///
/// Values put in with [`alloc`](Heap::alloc), [`alloc_slice_copy`](Heap::alloc_slice_copy) and
/// [`alloc_str`](Heap::alloc_str) live as long as the heap and are never dropped (their memory
/// goes with the heap, as in an arena); values in a [`HeapBox`] are dropped and freed
/// one by one. Dropping the heap, or [`destroy`](Heap::destroy), releases all its memory at
/// once (`mi_heap_destroy`).
///
/// ```
/// use shardalloc::Heap;
///
/// let heap = Heap::new();
/// let numbers = heap.alloc_slice_copy(&[1u64, 2, 3]);
/// let name = heap.alloc_str("shardalloc");
/// numbers[0] = 10;
/// assert_eq!(numbers.iter().sum::<u64>(), 15);
/// assert_eq!(name.len(), 10);
/// heap.destroy(); // every block at once
/// ```
pub struct Heap {
    raw: NonNull<sys::mi_heap_t>,
    // mi_heap_t is tied to its thread: no Send, no Sync.
    _thread: PhantomData<*mut ()>,
}

/// One area of a heap (a page of blocks of one size), as [`Heap::visit`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Area {
    /// Start of the area.
    pub blocks: *const u8,
    /// Bytes reserved for blocks.
    pub reserved: usize,
    /// Bytes in blocks handed out at least once.
    pub committed: usize,
    /// Live blocks.
    pub used: usize,
    /// Usable size of each block.
    pub block_size: usize,
    /// Size of each block including any metadata.
    pub full_block_size: usize,
    /// Tag of the heap ([`Heap::with_tag`]).
    pub heap_tag: i32,
}

/// A live block, as [`Heap::visit`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Start of the block.
    pub ptr: NonNull<u8>,
    /// Its usable size.
    pub size: usize,
}

impl Heap {
    /// A new heap of the calling thread.
    ///
    /// # Panics
    ///
    /// When memory for the heap cannot be had ([`try_new`](Heap::try_new) returns `None`).
    pub fn new() -> Heap {
        Self::try_new().expect("shardalloc: out of memory for a new heap")
    }

    /// A new heap of the calling thread, or `None` when out of memory.
    pub fn try_new() -> Option<Heap> {
        Self::from_raw(unsafe { sys::mi_heap_new() })
    }

    /// A new heap whose areas report `tag` in [`Area::heap_tag`].
    ///
    /// ```
    /// let mut heap = shardalloc::Heap::with_tag(42).unwrap();
    /// let _ = heap.alloc(1u8);
    /// heap.visit(false, |area, _| {
    ///     assert_eq!(area.heap_tag, 42);
    ///     true
    /// });
    /// ```
    pub fn with_tag(tag: u8) -> Option<Heap> {
        Self::from_raw(unsafe { sys::mi_heap_new_ex(i32::from(tag), true, 0) })
    }

    fn from_raw(raw: *mut sys::mi_heap_t) -> Option<Heap> {
        NonNull::new(raw).map(|raw| Heap { raw, _thread: PhantomData })
    }

    /// The C heap, for the functions of [`sys`] that take one. It stays valid while `self` does.
    pub fn as_raw(&self) -> *mut sys::mi_heap_t {
        self.raw.as_ptr()
    }

    /// A block for `layout`, or `None` when out of memory. The memory is valid until the heap
    /// is dropped or destroyed; using the pointer is up to the caller (and unsafe).
    pub fn alloc_layout(&self, layout: Layout) -> Option<NonNull<u8>> {
        let p = unsafe {
            if layout.align() <= 16 {
                sys::mi_heap_malloc(self.as_raw(), layout.size())
            } else {
                sys::mi_heap_malloc_aligned(self.as_raw(), layout.size(), layout.align())
            }
        };
        NonNull::new(p as *mut u8)
    }

    /// [`alloc_layout`](Heap::alloc_layout), zeroed.
    pub fn alloc_zeroed_layout(&self, layout: Layout) -> Option<NonNull<u8>> {
        let p = unsafe {
            if layout.align() <= 16 {
                sys::mi_heap_zalloc(self.as_raw(), layout.size())
            } else {
                sys::mi_heap_zalloc_aligned(self.as_raw(), layout.size(), layout.align())
            }
        };
        NonNull::new(p as *mut u8)
    }

    fn alloc_or_abort(&self, layout: Layout) -> NonNull<u8> {
        match self.alloc_layout(layout) {
            Some(p) => p,
            None => std::alloc::handle_alloc_error(layout),
        }
    }

    /// Moves `value` into the heap; the reference lives as long as the heap borrow. The value
    /// is never dropped: its memory is released with the heap.
    ///
    /// ```
    /// let heap = shardalloc::Heap::new();
    /// let a = heap.alloc(String::from("lives in the heap"));
    /// let b = heap.alloc([7u8; 100]);
    /// a.push('!');
    /// assert_eq!(b[99], 7);
    /// assert!(heap.contains(a as *const String as *const u8));
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc<T>(&self, value: T) -> &mut T {
        let p = self.alloc_or_abort(Layout::new::<T>()).cast::<T>();
        unsafe {
            p.as_ptr().write(value);
            &mut *p.as_ptr()
        }
    }

    /// A copy of `src` in the heap.
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        let layout = Layout::for_value(src);
        let p = self.alloc_or_abort(layout).cast::<T>();
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len());
            core::slice::from_raw_parts_mut(p.as_ptr(), src.len())
        }
    }

    /// A copy of `s` in the heap.
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_str(&self, s: &str) -> &mut str {
        let bytes = self.alloc_slice_copy(s.as_bytes());
        // SAFETY: a copy of valid UTF-8
        unsafe { core::str::from_utf8_unchecked_mut(bytes) }
    }

    /// Moves `value` into a block of the heap that is dropped and freed when the box goes.
    ///
    /// ```
    /// let heap = shardalloc::Heap::new();
    /// let mut b = heap.boxed(vec![1, 2, 3]);
    /// b.push(4);
    /// assert_eq!(b.len(), 4);
    /// drop(b); // the Vec is dropped and its block freed now
    /// ```
    pub fn boxed<T>(&self, value: T) -> HeapBox<'_, T> {
        let p = self.alloc_or_abort(Layout::new::<T>()).cast::<T>();
        unsafe { p.as_ptr().write(value) };
        HeapBox { ptr: p, _heap: PhantomData }
    }

    /// Whether `ptr` is a block allocated in this heap (any pointer may be asked about).
    pub fn contains(&self, ptr: *const u8) -> bool {
        unsafe { sys::mi_heap_contains_block(self.as_raw(), ptr as *const c_void) }
    }

    /// Frees what the heap caches; `force` also what it merely retains.
    pub fn collect(&self, force: bool) {
        unsafe { sys::mi_heap_collect(self.as_raw(), force) }
    }

    /// Walks the heap: `f` is called once per area with `None`, then, if `visit_blocks`, once
    /// per live block of that area. Returning false stops the walk, and `visit` then returns
    /// false. `&mut self` keeps every allocation of the heap out of reach meanwhile, so that
    /// nothing allocates from or frees into the heap while it is walked, as the C library
    /// requires. A panic in `f` stops the walk and is resumed after it.
    ///
    /// ```
    /// let mut heap = shardalloc::Heap::new();
    /// for i in 0..100u64 {
    ///     heap.alloc(i);
    /// }
    /// let (mut areas, mut blocks) = (0, 0);
    /// heap.visit(true, |area, block| {
    ///     match block {
    ///         None => areas += 1,
    ///         Some(b) => {
    ///             assert!(b.size >= 8 && area.block_size == b.size);
    ///             blocks += 1;
    ///         }
    ///     }
    ///     true
    /// });
    /// assert_eq!(blocks, 100);
    /// assert!(areas >= 1);
    /// ```
    pub fn visit<F>(&mut self, visit_blocks: bool, f: F) -> bool
    where
        F: FnMut(&Area, Option<Block>) -> bool,
    {
        struct State<F> {
            f: F,
            panic: Option<Box<dyn Any + Send>>,
        }

        unsafe extern "C" fn trampoline<F: FnMut(&Area, Option<Block>) -> bool>(
            _heap: *const sys::mi_heap_t,
            area: *const sys::mi_heap_area_t,
            block: *mut c_void,
            block_size: usize,
            arg: *mut c_void,
        ) -> bool {
            let state = &mut *(arg as *mut State<F>);
            let a = &*area;
            let area = Area {
                blocks: a.blocks as *const u8,
                reserved: a.reserved,
                committed: a.committed,
                used: a.used,
                block_size: a.block_size,
                full_block_size: a.full_block_size,
                heap_tag: a.heap_tag,
            };
            let block = NonNull::new(block as *mut u8).map(|ptr| Block { ptr, size: block_size });
            // a panic must not unwind into the C library
            match catch_unwind(AssertUnwindSafe(|| (state.f)(&area, block))) {
                Ok(go_on) => go_on,
                Err(payload) => {
                    state.panic = Some(payload);
                    false
                }
            }
        }

        let mut state = State { f, panic: None };
        let done = unsafe {
            sys::mi_heap_visit_blocks(
                self.as_raw(),
                visit_blocks,
                Some(trampoline::<F>),
                &mut state as *mut State<F> as *mut c_void,
            )
        };
        if let Some(payload) = state.panic {
            resume_unwind(payload);
        }
        done
    }

    /// Releases every block of the heap at once (the same as dropping it).
    pub fn destroy(self) {
        drop(self)
    }
}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // Nothing the heap handed out can outlive this borrow, so no block is in use.
        unsafe { sys::mi_heap_destroy(self.as_raw()) }
    }
}

impl core::fmt::Debug for Heap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Heap").field("raw", &self.raw).finish()
    }
}

/// A value in a [`Heap`], dropped and freed when the box goes (before the heap, which it
/// borrows).
pub struct HeapBox<'h, T> {
    ptr: NonNull<T>,
    _heap: PhantomData<(&'h Heap, T)>,
}

impl<T> Deref for HeapBox<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for HeapBox<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for HeapBox<'_, T> {
    fn drop(&mut self) {
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            sys::mi_free(self.ptr.as_ptr() as *mut c_void);
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for HeapBox<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}
