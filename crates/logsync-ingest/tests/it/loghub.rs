//! The six LogHub 2k samples, reduced to their `Content` field.
//!
//! The template tests must not depend on the crate's format parser (written
//! at the same time), so this helper cuts the content out of each line
//! itself, as LogHub's format strings do: the fields before the content are
//! separated as the format says, and the content is the rest of the trimmed
//! line.

use std::path::PathBuf;

/// A LogHub system: its name (the file prefix) and the miner preset.
#[derive(Debug, Clone, Copy)]
pub struct System {
    pub name: &'static str,
    pub preset: &'static str,
    /// Returns the content of one trimmed line, `None` if the line does not
    /// have the system's format.
    content: fn(&str) -> Option<&str>,
}

pub const SYSTEMS: [System; 6] = [
    System {
        name: "HDFS",
        preset: "hdfs",
        content: hdfs,
    },
    System {
        name: "BGL",
        preset: "bgl",
        content: bgl,
    },
    System {
        name: "Zookeeper",
        preset: "zookeeper",
        content: zookeeper,
    },
    System {
        name: "OpenSSH",
        preset: "openssh",
        content: openssh,
    },
    System {
        name: "Apache",
        preset: "apache",
        content: apache,
    },
    System {
        name: "Spark",
        preset: "spark",
        content: spark,
    },
];

/// `testdata/loghub/` of the repository.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/loghub")
}

impl System {
    /// The content of every line of the sample, in order.
    pub fn contents(&self) -> Vec<String> {
        let path = data_dir().join(format!("{}_2k.log", self.name));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the LogHub sample {} ({e}); the template tests need the \
                 six samples in testdata/loghub",
                path.display()
            )
        });
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line.trim();
                (self.content)(line)
                    .unwrap_or_else(|| {
                        panic!(
                            "{} line {}: not in the {} format: {line:?}",
                            self.name,
                            i + 1,
                            self.name
                        )
                    })
                    .to_owned()
            })
            .collect()
    }
}

/// Skips `n` whitespace-separated fields (each followed by whitespace).
fn skip_fields(line: &str, n: usize) -> Option<&str> {
    let mut rest = line;
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        rest = rest.get(end..)?.trim_start();
    }
    Some(rest)
}

/// The text after the first `sep` in `s`.
fn after<'a>(s: &'a str, sep: &str) -> Option<&'a str> {
    s.split_once(sep).map(|(_, rest)| rest)
}

// `<Date> <Time> <Pid> <Level> <Component>: <Content>`
fn hdfs(line: &str) -> Option<&str> {
    after(skip_fields(line, 4)?, ": ")
}

// `<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>`
fn bgl(line: &str) -> Option<&str> {
    skip_fields(line, 9)
}

// `<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>`
fn zookeeper(line: &str) -> Option<&str> {
    let rest = after(skip_fields(line, 4)?, "[")?;
    let rest = after(rest, "@")?;
    after(rest, "] - ")
}

// `<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>`
fn openssh(line: &str) -> Option<&str> {
    after(skip_fields(line, 4)?.strip_prefix("sshd[")?, "]: ")
}

// `\[<Time>\] \[<Level>\] <Content>`
fn apache(line: &str) -> Option<&str> {
    let rest = after(line.strip_prefix('[')?, "] [")?;
    after(rest, "] ")
}

// `<Date> <Time> <Level> <Component>: <Content>`
fn spark(line: &str) -> Option<&str> {
    after(skip_fields(line, 3)?, ": ")
}
