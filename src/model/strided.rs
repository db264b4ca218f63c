//! One matrix product on strided views, by `gemm` (the kernel candle uses on the CPU): what
//! the bfloat16 linear layer (`linear.rs`) and the probe's ridge, CKA and PCA products
//! (`pipeline::probe`) share. Each operand's extent is checked against its slice before
//! `gemm` reads or writes it. Also how the CPU convolutions read a tensor's values where
//! they lie ([`with_f32_values`]) and take a bias ([`f32_values`]).

/// `f` on the float32 values of a CPU tensor, read where they lie (no copy out of the
/// tensor; a non-contiguous one is made contiguous first). `what` names the caller in the
/// error for any other tensor.
pub fn with_f32_values<T>(
    x: &candle_core::Tensor,
    what: &str,
    f: impl FnOnce(&[f32]) -> T,
) -> candle_core::Result<T> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let (candle_core::Storage::Cpu(storage), Some((x0, x1))) =
        (&*storage, layout.contiguous_offsets())
    else {
        candle_core::bail!("{what}: a contiguous CPU tensor expected")
    };
    Ok(f(&storage.as_slice::<f32>()?[x0..x1]))
}

/// A bias's values in float32, empty without one.
pub fn f32_values(b: Option<&candle_core::Tensor>) -> candle_core::Result<Vec<f32>> {
    match b {
        Some(b) => b.to_dtype(candle_core::DType::F32)?.to_vec1(),
        None => Ok(Vec::new()),
    }
}

/// A matrix inside a slice: element (r, c) at `r * rs + c * cs`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

/// `dst (m x n, row stride dst_rs) = lhs (m x k) rhs (k x n)`, on all cores.
///
/// # Panics
/// When a view or `dst` is smaller than its shape needs.
#[expect(
    unsafe_code,
    reason = "gemm on slices whose extents are checked (see SAFETY)"
)]
pub fn gemm_into<T: 'static + Copy + From<u8>>(
    dst: &mut [T],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View<'_, T>,
    rhs: View<'_, T>,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, n, dst_rs, 1) < dst.len()
            && last(m, k, lhs.rs, lhs.cs) < lhs.data.len()
            && last(k, n, rhs.rs, rhs.cs) < rhs.data.len(),
        "gemm_into: an operand is smaller than its shape"
    );
    // SAFETY: every element the strides reach in `dst` (m x n), `lhs` (m x k) and `rhs`
    // (k x n) lies inside its slice (asserted above); `dst` is borrowed mutably, so it
    // aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            T::from(0),
            T::from(1),
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}
