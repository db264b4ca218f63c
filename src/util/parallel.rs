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

#[cfg(test)]
mod tests {
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
