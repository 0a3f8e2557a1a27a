//! Panics caught on a thread that must live on, in words.
//!
//! A worker calls code that may panic (a target's own code; openpace's parsers on a peer's
//! bytes) and must survive it: [`guarded`] runs a closure under `catch_unwind` and turns a
//! panic into its message and place (`attempt to add with overflow at src/x.rs:12:5`), which
//! the panic hook noted for this thread ([`note`]). Nothing here runs unless a panic happens.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};

thread_local! {
    /// The message and place of this thread's last panic, noted by the hook.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes a panic's message and place for [`guarded`] on the panicking thread (call it from a
/// panic hook).
pub fn note(info: &PanicHookInfo<'_>) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    let text = match info.location() {
        Some(at) => format!("{message} at {}:{}:{}", at.file(), at.line(), at.column()),
        None => message,
    };
    LAST.with(|last| *last.borrow_mut() = Some(text));
}

/// Runs `f`; a panic in it becomes `Err` with its message and place (or "a panic" when no
/// hook noted it).
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        LAST.with(|last| last.borrow_mut().take())
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(guarded(|| 7), Ok(7));
        let e = guarded(|| -> u8 { panic!("boom {}", 1) }).unwrap_err();
        assert!(e.contains("boom 1"), "{e}");
    }
}
