//! The real-time allocation guard with the counting allocator installed.

use std::hint::black_box;
use std::sync::{Barrier, Mutex};

use wasio_engine::rt_guard::{
    counting_allocator_installed, enter_rt, in_rt, outside_rt, reset, rt_allocations,
    CountingAllocator,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

/// The counter is process-wide; tests take turns so they do not see each other's counts.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn allocation_inside_a_section_is_counted() {
    let _serial = serial();
    assert!(counting_allocator_installed());
    reset();
    {
        let _rt = enter_rt();
        let mut v: Vec<u8> = black_box(Vec::with_capacity(8)); // alloc
        v.extend_from_slice(black_box(&[0u8; 64])); // realloc
        drop(v); // dealloc
    }
    assert_eq!(rt_allocations(), 3);
    {
        let _rt = enter_rt();
        drop(black_box(vec![0u8; 100])); // alloc_zeroed + dealloc
    }
    assert_eq!(rt_allocations(), 5);
    reset();
    assert_eq!(rt_allocations(), 0);
}

#[test]
fn allocation_outside_a_section_or_inside_outside_rt_is_not_counted() {
    let _serial = serial();
    reset();
    drop(black_box(vec![1u8; 32]));
    let kept = {
        let _rt = enter_rt();
        outside_rt(|| {
            assert!(!in_rt());
            black_box(String::from("host code may allocate"))
        })
    };
    assert_eq!(rt_allocations(), 0);
    drop(kept);
}

#[test]
fn sections_nest_and_outside_rt_restores_the_depth() {
    let _serial = serial();
    reset();
    let outer = enter_rt();
    let inner = enter_rt();
    drop(inner);
    assert!(in_rt());
    outside_rt(|| {
        // A section entered from host code counts again.
        let _rt = enter_rt();
        drop(black_box(Box::new(7u64)));
    });
    assert!(in_rt());
    drop(black_box(Box::new(8u64)));
    drop(outer);
    assert!(!in_rt());
    drop(black_box(Box::new(9u64)));
    assert_eq!(rt_allocations(), 4);
}

#[test]
fn outside_rt_restores_after_a_panic() {
    let _serial = serial();
    let _rt = enter_rt();
    let result = std::panic::catch_unwind(|| outside_rt(|| panic!("host code panicked")));
    assert!(result.is_err());
    assert!(in_rt());
}

#[test]
fn allocation_on_another_thread_is_not_counted() {
    let _serial = serial();
    reset();
    let start = Barrier::new(2);
    let done = Barrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            start.wait();
            for n in 0..100 {
                drop(black_box(vec![0u8; n + 1]));
            }
            done.wait();
        });
        // This thread is real-time while the other one allocates.
        let rt = enter_rt();
        start.wait();
        done.wait();
        drop(rt);
    });
    assert_eq!(rt_allocations(), 0);

    // Control: the same work on a thread that is itself in a section is counted.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _rt = enter_rt();
            for n in 0..100 {
                drop(black_box(vec![0u8; n + 1]));
            }
        });
    });
    assert_eq!(rt_allocations(), 200);
}
