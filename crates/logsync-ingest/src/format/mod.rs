//! Log formats: the six built-in presets and any LogHub format string, each
//! compiled into a [`Pattern`] plus what its fields mean (timestamp layout,
//! level, component, pid, node, message) and its default compaction key.

mod pattern;
pub mod preset;

pub use pattern::{MAX_FIELDS, Mismatch, Pattern, STEP_LIMIT, Spans};

use crate::Result;
use crate::timestamp::{ALL_LAYOUTS, TimeLayout};

/// How a format's time is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSpec {
    /// A known layout over these field indices.
    Fixed(TimeLayout, Vec<usize>),
    /// Try each candidate on the first line whose time fields parse with one
    /// of them, then keep that one (format strings given on the command line).
    Detect(Vec<(TimeLayout, Vec<usize>)>),
    /// The format has no time fields: events carry no timestamp.
    None,
}

/// The default compaction key of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultKey {
    /// The first HDFS block id (`blk_-?[0-9]+`) in the message.
    BlockId,
    /// The value of this field.
    Field(usize),
    /// No key.
    None,
}

/// Indices of the fields with a meaning of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    /// `<Level>`.
    pub level: Option<usize>,
    /// `<Component>`.
    pub component: Option<usize>,
    /// `<Pid>`.
    pub pid: Option<usize>,
    /// `<Node>`.
    pub node: Option<usize>,
    /// `<Content>`: the message.
    pub message: Option<usize>,
}

/// A compiled log format.
#[derive(Debug, Clone)]
pub struct Format {
    /// The preset's name, or `custom`.
    pub name: String,
    /// The format string it was compiled from.
    pub source: String,
    /// The matcher.
    pub pattern: Pattern,
    /// Fields with a meaning.
    pub roles: Roles,
    /// How the event time is read.
    pub time: TimeSpec,
    /// The compaction key when none is asked for.
    pub default_key: DefaultKey,
}

impl Format {
    /// A preset by name (`hdfs`, `bgl`, `zookeeper`, `openssh`, `apache`,
    /// `spark`, any case), or else `spec` compiled as a LogHub format string.
    ///
    /// # Errors
    /// [`Error::InvalidFormat`](crate::Error::InvalidFormat) when `spec` is
    /// neither a preset nor a valid format string.
    pub fn from_spec(spec: &str) -> Result<Format> {
        match preset::find(spec) {
            Some(p) => p.format(),
            None => Format::custom(spec),
        }
    }

    /// A LogHub format string: fields named `Level`, `Component`, `Pid`,
    /// `Node` and `Content` take those roles (`Content` is the message); the
    /// timestamp layout is detected on the first line from the fields `Date`,
    /// `Day`, `Time` and `Timestamp` (see [`TimeLayout::field_names`]); no
    /// default key.
    ///
    /// # Errors
    /// [`Error::InvalidFormat`](crate::Error::InvalidFormat).
    pub fn custom(source: &str) -> Result<Format> {
        let pattern = Pattern::compile(source)?;
        let candidates: Vec<(TimeLayout, Vec<usize>)> = ALL_LAYOUTS
            .iter()
            .filter_map(|&layout| {
                let idx: Option<Vec<usize>> = layout
                    .field_names()
                    .iter()
                    .map(|n| pattern.index_of(n))
                    .collect();
                idx.map(|idx| (layout, idx))
            })
            .collect();
        let time = if candidates.is_empty() {
            TimeSpec::None
        } else {
            TimeSpec::Detect(candidates)
        };
        Ok(Format {
            name: "custom".to_owned(),
            source: source.to_owned(),
            roles: roles_of(&pattern),
            pattern,
            time,
            default_key: DefaultKey::None,
        })
    }

    /// The field names in order.
    #[must_use]
    pub fn field_names(&self) -> &[String] {
        self.pattern.names()
    }
}

/// Roles by field name (exact LogHub names, then case-insensitive).
fn roles_of(p: &Pattern) -> Roles {
    Roles {
        level: p.index_of("Level"),
        component: p.index_of("Component"),
        pid: p.index_of("Pid"),
        node: p.index_of("Node"),
        message: p.index_of("Content"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_format_detects_its_time_candidates() {
        let f = Format::from_spec("<Date> <Time> <Level> <Component>: <Content>").expect("ok");
        assert_eq!(f.name, "custom");
        assert_eq!(f.roles.level, Some(2));
        assert_eq!(f.roles.message, Some(4));
        let TimeSpec::Detect(c) = &f.time else {
            panic!("detects: {:?}", f.time)
        };
        assert!(c.contains(&(TimeLayout::CompactYyMmDd, vec![0, 1])));
        let none = Format::from_spec("<A> <Content>").expect("ok");
        assert_eq!(none.time, TimeSpec::None);
    }

    #[test]
    fn presets_are_found_by_name_in_any_case() {
        for name in ["hdfs", "BGL", "Zookeeper", "openssh", "apache", "spark"] {
            let f = Format::from_spec(name).expect("preset");
            assert_eq!(f.name, name.to_ascii_lowercase());
            assert!(matches!(f.time, TimeSpec::Fixed(..)), "{name}");
            assert!(f.roles.message.is_some(), "{name}");
        }
    }
}
