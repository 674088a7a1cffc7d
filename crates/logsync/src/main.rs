//! The `logsync` binary: parses the command line, dispatches, and maps errors
//! to exit codes (0 ok, 1 nothing found, 2 any error, as grep and ripgrep).

mod cli;
mod client;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

/// What a command reports back to `main` on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 1: the command ran fine but found nothing (e.g. a missing key).
    NothingFound,
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line, without its usage block.
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("error: {first} (see logsync --help)");
            return ExitCode::from(2);
        }
    };
    init_tracing(&cli.log_level);
    match cmd::run(cli) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NothingFound) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line: `a: b: c`, skipping a cause whose
/// text the message before it already ends with (errors that print their
/// source), and folding multi-line messages (a regex error's caret diagram).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// `logsync consume | head` must end quietly when `head` exits.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(level: &str) {
    let level = level.parse().unwrap_or(tracing::Level::WARN);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn causes_already_in_the_message_are_not_repeated_and_lines_are_folded() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(logsync_storage::Error::io("open", "/x", io)).context("topic t");
        assert_eq!(one_line(&e), "topic t: open /x: gone");
        let e = anyhow::anyhow!("regex parse error:\n    (\n    ^\nerror: unclosed group")
            .context("bad");
        assert_eq!(
            one_line(&e),
            "bad: regex parse error: ( ^ error: unclosed group"
        );
    }
}
