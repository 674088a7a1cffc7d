//! The progress bar of commands that read a file (`kv load`, `ingest`).

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` bytes on stderr, hidden when the length is unknown
/// (standard input) or stderr is not a terminal.
pub fn file_bar(len: Option<u64>) -> ProgressBar {
    let Some(len) = len.filter(|_| std::io::stderr().is_terminal()) else {
        return ProgressBar::hidden();
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes} {msg} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
