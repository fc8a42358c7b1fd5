//! Cache prefetch hints for the fast path: where a burst will read or write next, fetched while
//! it still works on something else, so the miss overlaps useful work.

/// Issues a prefetch of the cache line holding `p` into all cache levels. A hint only: any
/// address is fine, nothing is read architecturally.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    // SAFETY: PREFETCHT0 is only a hint: it never faults and changes no architectural state
    // whatever the address. SSE is baseline on x86_64.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    let _ = p;
}
