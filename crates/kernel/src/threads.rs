//! Where the kernel's parallel parts run: the caller decides, never a pool of ours.
//!
//! The kernel runs inside other people's processes (a Python notebook, a Spark executor that
//! owns its cores, the `hotzone` server), so it never uses rayon's global pool on its own:
//! [`Threads::Caller`] runs everything on the calling thread, [`Threads::Pool`] on a pool the
//! caller built. The parallel steps (summing maps, evaluating verdicts) are written with
//! rayon and run wherever [`Threads::run`] puts them.

/// The threads a kernel call may use.
#[derive(Clone, Copy, Debug, Default)]
pub enum Threads<'a> {
    /// Only the calling thread.
    #[default]
    Caller,
    /// The threads of the caller's pool.
    Pool(&'a rayon::ThreadPool),
}

impl Threads<'_> {
    /// Runs `f` on these threads: every rayon operation inside it (`join`, parallel
    /// iterators) stays on them.
    pub fn run<R: Send>(self, f: impl FnOnce() -> R + Send) -> R {
        match self {
            Threads::Pool(pool) => pool.install(f),
            Threads::Caller => {
                // A pool of one thread made of the calling thread itself: rayon's parallel
                // code then runs sequentially here, and no thread is spawned. A thread that
                // is already a worker of a pool (a caller's rayon task) cannot join another
                // one; it is then one thread of its own pool, which the caller chose.
                match rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .use_current_thread()
                    .build()
                {
                    Ok(pool) => pool.install(f),
                    Err(_) => f(),
                }
            }
        }
    }

    /// How many threads this is.
    pub fn count(self) -> usize {
        match self {
            Threads::Pool(pool) => pool.current_num_threads(),
            Threads::Caller => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_runs_on_the_calling_thread_with_one_rayon_thread_each_time() {
        let me = std::thread::current().id();
        for _ in 0..3 {
            let (id, n) = Threads::Caller.run(|| {
                let (a, b) = rayon::join(
                    || std::thread::current().id(),
                    || std::thread::current().id(),
                );
                assert_eq!(a, b);
                (a, rayon::current_num_threads())
            });
            assert_eq!(id, me);
            assert_eq!(n, 1);
        }
    }

    #[test]
    fn a_pool_given_is_the_pool_used() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let n = Threads::Pool(&pool).run(rayon::current_num_threads);
        assert_eq!(n, 3);
        assert_eq!(Threads::Pool(&pool).count(), 3);
    }
}
