//! Wakes from another thread, delivered to a request thread in one go.
//!
//! The writer's thread ([`crate::storage::writer`]) answers a batch of writes at a time, and each answer
//! wakes the request task waiting for it. A task of a request thread (an actix worker: a
//! single-threaded tokio runtime) woken from another thread costs that thread's runtime a
//! write to its event fd, one per wake, however many go to the same thread in one batch: 0.8
//! system calls a PIN step in the load benchmark (`perf stat`; `docs/performance-notes.md`, the
//! seventh look).
//!
//! A thread with a mailbox ([`install`]) takes such wakes in it instead: a wake posts the
//! task's waker to the mailbox ([`Mailbox::post`]), and only the first post since the mailbox
//! was last emptied wakes the mailbox's own task. That task, running on the thread, wakes the
//! posted tasks there, where a wake is a push to the runtime's local queue.
//!
//! A future awaited through [`gathered`] uses the mailbox of the thread that polls it, if it
//! has one, and is woken directly otherwise (a multi-threaded runtime, a test).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// The wakes posted to one thread and not yet delivered, and the waker of the task that
/// delivers them.
#[derive(Default)]
struct Mailbox {
    inner: Mutex<Posted>,
}

#[derive(Default)]
struct Posted {
    /// Wakers to wake on the mailbox's thread, in the order they were posted.
    wakers: Vec<Waker>,
    /// The delivering task's waker; `None` until that task first runs.
    courier: Option<Waker>,
}

impl Mailbox {
    /// Posts `waker` to be woken on the mailbox's thread; wakes the delivering task when the
    /// mailbox was empty (a later post finds it waiting). Before the delivering task has run
    /// once, wakes `waker` directly.
    fn post(&self, waker: Waker) {
        let mut posted = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(courier) = &posted.courier else {
            drop(posted);
            waker.wake();
            return;
        };
        let first = posted.wakers.is_empty();
        let courier = first.then(|| courier.clone());
        posted.wakers.push(waker);
        drop(posted);
        if let Some(courier) = courier {
            courier.wake();
        }
    }

    /// Registers the delivering task's waker from `cx`, then moves every posted waker into
    /// `into` (empty, so that its buffer is reused), leaving the mailbox empty.
    fn collect(&self, cx: &Context<'_>, into: &mut Vec<Waker>) {
        let mut posted = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !posted
            .courier
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            posted.courier = Some(cx.waker().clone());
        }
        std::mem::swap(&mut posted.wakers, into);
    }
}

thread_local! {
    /// This thread's mailbox, once [`install`] ran on it.
    static MAILBOX: RefCell<Option<Arc<Mailbox>>> = const { RefCell::new(None) };
}

/// Gives the current thread a mailbox and spawns its delivering task on the thread's local
/// runtime (`tokio::task::spawn_local`), once per thread; later calls do nothing.
///
/// Call it on a thread whose runtime runs `!Send` tasks and lives as long as the thread: an
/// actix worker, from the application factory (`HttpServer::new`'s closure runs on each
/// worker). Outside any runtime, or in a multi-threaded one, it does nothing: tasks there move
/// between threads, and `spawn_local` would panic. Within a single-threaded runtime it must be
/// inside a `LocalSet` or a local runtime, as `spawn_local` requires.
pub fn install() {
    let multi_threaded = tokio::runtime::Handle::try_current().map_or(true, |h| {
        h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    });
    if multi_threaded {
        return;
    }
    let mailbox = MAILBOX.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_some() {
            return None;
        }
        let mailbox = Arc::new(Mailbox::default());
        *slot = Some(Arc::clone(&mailbox));
        Some(mailbox)
    });
    if let Some(mailbox) = mailbox {
        tokio::task::spawn_local(deliver(mailbox));
    }
}

/// The delivering task: wakes, on the mailbox's thread, the wakers posted since it last ran.
/// Never finishes; it goes with the thread's runtime.
async fn deliver(mailbox: Arc<Mailbox>) {
    let mut due = Vec::new();
    std::future::poll_fn(|cx| {
        mailbox.collect(cx, &mut due);
        for waker in due.drain(..) {
            waker.wake();
        }
        Poll::<()>::Pending
    })
    .await;
}

/// A waker that posts its task's waker to a mailbox instead of waking it.
struct Forward {
    task: Waker,
    mailbox: Arc<Mailbox>,
}

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.mailbox.post(self.task.clone());
    }
}

/// `inner`, woken through the mailbox of the thread that polls it when that thread has one
/// ([`install`]). For a future completed from another thread (a oneshot receiver the writer's
/// thread answers); the output is `inner`'s.
pub fn gathered<F: Future + Unpin>(inner: F) -> Gathered<F> {
    Gathered {
        inner,
        forward: None,
    }
}

/// The future of [`gathered`].
pub struct Gathered<F> {
    inner: F,
    /// The forwarding waker last given to `inner`, with what it forwards to.
    forward: Option<(Arc<Forward>, Waker)>,
}

impl<F: Future + Unpin> Future for Gathered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // `try_with`: while the thread's locals are being destroyed there is no mailbox, and the
        // wait is woken directly rather than panicking.
        let Some(mailbox) = MAILBOX
            .try_with(|slot| slot.borrow().clone())
            .ok()
            .flatten()
        else {
            return Pin::new(&mut this.inner).poll(cx);
        };
        let current = this.forward.as_ref().is_some_and(|(forward, _)| {
            forward.task.will_wake(cx.waker()) && Arc::ptr_eq(&forward.mailbox, &mailbox)
        });
        if !current {
            let forward = Arc::new(Forward {
                task: cx.waker().clone(),
                mailbox,
            });
            let waker = Waker::from(Arc::clone(&forward));
            this.forward = Some((forward, waker));
        }
        match &this.forward {
            Some((_, waker)) => Pin::new(&mut this.inner).poll(&mut Context::from_waker(waker)),
            None => Pin::new(&mut this.inner).poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A waker that counts its wakes.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    fn wakes(counter: &Counter) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    #[test]
    fn posts_wake_the_courier_once_until_it_collects_them() {
        let mailbox = Mailbox::default();
        let (courier, courier_waker) = counter();
        let mut due = Vec::new();
        mailbox.collect(&Context::from_waker(&courier_waker), &mut due);
        assert!(due.is_empty());

        let tasks: Vec<_> = (0..3).map(|_| counter()).collect();
        for (_, waker) in &tasks {
            mailbox.post(waker.clone());
        }
        assert_eq!(wakes(&courier), 1, "only the first post wakes the courier");
        assert!(
            tasks.iter().all(|(c, _)| wakes(c) == 0),
            "tasks wait for the courier"
        );

        mailbox.collect(&Context::from_waker(&courier_waker), &mut due);
        assert_eq!(due.len(), 3);
        for waker in due.drain(..) {
            waker.wake();
        }
        assert!(tasks.iter().all(|(c, _)| wakes(c) == 1));

        // Emptied: the next post wakes the courier again.
        mailbox.post(tasks[0].1.clone());
        assert_eq!(wakes(&courier), 2);
    }

    #[test]
    fn a_post_before_the_courier_ran_wakes_its_task_directly() {
        let mailbox = Mailbox::default();
        let (task, waker) = counter();
        mailbox.post(waker);
        assert_eq!(wakes(&task), 1);
        let mut due = Vec::new();
        let (_, courier_waker) = counter();
        mailbox.collect(&Context::from_waker(&courier_waker), &mut due);
        assert!(due.is_empty(), "nothing was left behind");
    }

    #[test]
    fn a_multi_threaded_runtime_gets_no_mailbox() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a runtime");
        let installed = runtime.block_on(async {
            install();
            MAILBOX.with(|slot| slot.borrow().is_some())
        });
        assert!(!installed);
        install();
        assert!(
            MAILBOX.with(|slot| slot.borrow().is_none()),
            "nor does no runtime"
        );
    }

    /// Many tasks of one single-threaded runtime wait for answers sent from another thread,
    /// round after round: every one is woken (through the mailbox), none is lost.
    #[test]
    fn answers_from_another_thread_reach_every_waiting_task() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let local = tokio::task::LocalSet::new();
        let delivered = local.block_on(&runtime, async {
            install();
            assert!(MAILBOX.with(|slot| slot.borrow().is_some()));
            let mut delivered = 0;
            for round in 0..50u32 {
                let (senders, receivers): (Vec<_>, Vec<_>) = (0..64)
                    .map(|_| tokio::sync::oneshot::channel::<u32>())
                    .unzip();
                let waiting: Vec<_> = receivers
                    .into_iter()
                    .map(|rx| tokio::task::spawn_local(gathered(rx)))
                    .collect();
                // Let every task poll once and wait.
                tokio::task::yield_now().await;
                let sender = std::thread::spawn(move || {
                    for (i, tx) in senders.into_iter().enumerate() {
                        let _ = tx.send(round + i as u32);
                    }
                });
                for (i, task) in waiting.into_iter().enumerate() {
                    let got = tokio::time::timeout(std::time::Duration::from_secs(10), task)
                        .await
                        .expect("woken within 10 s")
                        .expect("the task ran")
                        .expect("answered");
                    assert_eq!(got, round + i as u32);
                    delivered += 1;
                }
                sender.join().expect("the sender finished");
            }
            delivered
        });
        assert_eq!(delivered, 50 * 64);
    }
}
