//! Large zeroed buffers backed by transparent huge pages where the kernel offers them.
//!
//! A real-size checkpoint is 8 GB of bfloat16 (16 GB as float32). Filled in 4 KiB pages,
//! that is two to four million page faults, each of which the kernel zeroes and maps: on
//! this project's 2-core machine about as long as copying the bytes themselves. Linux's
//! transparent huge pages are usually in `madvise` mode, so a buffer asks for them with
//! `madvise(MADV_HUGEPAGE)` before its first write; faults then come 2 MiB at a time. The
//! buffer comes zeroed from the allocator (`calloc`: fresh mappings are not written), so
//! the advice lands before any page exists. Elsewhere, or when the kernel refuses, this is
//! an ordinary zeroed vector.

use bytemuck::Zeroable;

/// Buffers at least this large get the advice (smaller ones come from the heap, where the
/// advice would only mark the heap's mapping).
const ADVISE_FROM_BYTES: usize = 4 << 20;

/// `n` zeroed values, or `None` when the allocation fails (the caller names the file).
pub fn zeroed_buffer<T: Zeroable>(n: usize) -> Option<Vec<T>> {
    let mut v = bytemuck::allocation::try_zeroed_vec::<T>(n).ok()?;
    advise_huge_pages(&mut v);
    Some(v)
}

#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "madvise on a range this vector owns")]
fn advise_huge_pages<T>(v: &mut [T]) {
    const PAGE: usize = 4096;
    let bytes = size_of_val(v);
    if bytes < ADVISE_FROM_BYTES {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let first = start.next_multiple_of(PAGE);
    let end = (start + bytes) & !(PAGE - 1);
    if end <= first {
        return;
    }
    // SAFETY: [first, end) lies inside `v`'s allocation and is page-aligned; MADV_HUGEPAGE
    // only changes how the kernel backs the range, never its contents. A refusal (THP off,
    // an old kernel) leaves ordinary pages, so the result is not checked.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_: &mut [T]) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_zeroed_and_writable_at_every_size() {
        for n in [0usize, 1, 1000, (4 << 20) / 4 + 3, 3 << 20] {
            let mut v = super::zeroed_buffer::<f32>(n).expect("allocates");
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|x| x.to_bits() == 0));
            v.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
            assert!(v.iter().enumerate().all(|(i, x)| *x == i as f32));
        }
    }

    #[test]
    fn an_impossible_size_is_none_not_an_abort() {
        assert!(super::zeroed_buffer::<u64>(usize::MAX / 4).is_none());
    }
}
