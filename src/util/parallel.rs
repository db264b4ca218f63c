//! One scoped thread per item: for the few (2-8) independent, equally heavy jobs of a step,
//! such as each camera's decode or each depth image's scan, where a thread pool would add a
//! dependency for nothing. One item runs on the calling thread.

/// `f` of each item, in order, each item on its own scoped thread (one item: no thread). A
/// panic in `f` is re-raised here, naming `what`.
pub fn map_each<T: Sync, R: Send>(items: &[T], what: &str, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items.iter().map(|item| s.spawn(move || f(item))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("{what} panicked")))
            .collect()
    })
}

/// `f(index, chunk)` of each `per`-long chunk of `dst`, each on its own scoped thread
/// (one chunk: no thread), results in order: for splitting one large buffer across the
/// cores (the model's kernels). A panic in `f` is re-raised here, naming `what`.
pub fn each_chunk_mut<T: Send, R: Send>(
    dst: &mut [T],
    per: usize,
    what: &str,
    f: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let per = per.max(1);
    if dst.len() <= per {
        return if dst.is_empty() {
            Vec::new()
        } else {
            vec![f(0, dst)]
        };
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = dst
            .chunks_mut(per)
            .enumerate()
            .map(|(i, c)| s.spawn(move || f(i, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("{what} panicked")))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_are_numbered_in_order_and_one_chunk_stays_on_this_thread() {
        let mut v = vec![0usize; 10];
        let lens = super::each_chunk_mut(&mut v, 4, "numbering", |i, c| {
            c.iter_mut().for_each(|x| *x = i);
            c.len()
        });
        assert_eq!(lens, [4, 4, 2]);
        assert_eq!(v, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
        let here = std::thread::current().id();
        let ids = super::each_chunk_mut(&mut v, 10, "one", |_, _| std::thread::current().id());
        assert_eq!(ids, [here]);
        assert!(super::each_chunk_mut(&mut [] as &mut [u8], 3, "none", |_, _| ()).is_empty());
    }

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..5).collect();
        assert_eq!(
            super::map_each(&items, "squaring", |x| x * x),
            [0, 1, 4, 9, 16]
        );
        assert_eq!(super::map_each(&[7u8], "one", |x| *x), [7]);
        assert!(super::map_each(&[] as &[u8], "none", |x| *x).is_empty());
    }
}
